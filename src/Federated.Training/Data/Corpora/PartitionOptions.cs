namespace Federated.Training.Data.Corpora;

/// <summary>How many clients, the seed, and how much is held out (see <see cref="Partitioning"/>).</summary>
/// <param name="Clients">At least 1.</param>
/// <param name="Seed">The same seed and inputs always give the same partition.</param>
public sealed record PartitionOptions(int Clients, int Seed)
{
    /// <summary>The fraction of each domain held out globally and never given to a client (at least one example of a domain with two or more).</summary>
    public double GlobalHeldOutFraction { get; init; } = 0.05;

    /// <summary>The fraction of each client's examples kept for its own evaluation (at least one when it has two or more).</summary>
    public double ClientEvaluationFraction { get; init; } = 0.1;

    /// <summary>Caps each client's examples (training plus evaluation) so that simulations over large corpora stay fast; null: no cap.</summary>
    public int? MaxExamplesPerClient { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Clients, 1, nameof(Clients));
        CheckFraction(GlobalHeldOutFraction, nameof(GlobalHeldOutFraction));
        CheckFraction(ClientEvaluationFraction, nameof(ClientEvaluationFraction));
        if (MaxExamplesPerClient is { } cap)
            ArgumentOutOfRangeException.ThrowIfLessThan(cap, 1, nameof(MaxExamplesPerClient));

        static void CheckFraction(double value, string name)
        {
            if (!(value >= 0 && value < 1))
                throw new ArgumentOutOfRangeException(name, value, "must be in [0, 1)");
        }
    }
}
