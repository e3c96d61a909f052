namespace Federated.Benchmarks.Security;

/// <summary>One attack of the suite: its name on the command line, what issue 15 expects, and how to run it.</summary>
/// <param name="Target">The process attacked and measured: coordinator or agent.</param>
/// <param name="RunAsync">Starts its own fresh processes, attacks, measures the attacked one, and stops them.</param>
sealed record SecurityAttack(string Name, string Target, string Expected, Func<Task<(AttackOutcome Outcome, Measurement Cost)>> RunAsync);
