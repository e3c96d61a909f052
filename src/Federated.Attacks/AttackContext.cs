using Federated.Core.Adapters;

namespace Federated.Attacks;

/// <summary>
/// What a Byzantine client knows when it crafts its upload. Follows the usual omniscient-attacker
/// assumption: it observes the honest updates of the round (whether its own honest update is among
/// them is up to the caller).
/// </summary>
public sealed class AttackContext
{
    /// <param name="rank">The rank the attacker uploads at (default: the own update's predominant rank).</param>
    /// <param name="alpha">The attacker's LoRA alpha (default: the own update's first module's alpha).</param>
    public AttackContext(LoraAdapter ownUpdate, IReadOnlyList<LoraAdapter> honestUpdates, int clientCount, int attackerCount,
        long seed = 0, int? rank = null, double? alpha = null)
    {
        ArgumentNullException.ThrowIfNull(ownUpdate);
        ArgumentNullException.ThrowIfNull(honestUpdates);
        if (clientCount <= 0)
            throw new ArgumentException($"the number of clients must be positive, got {clientCount}");
        if (attackerCount < 0 || attackerCount > clientCount)
            throw new ArgumentException($"the number of attackers must be in [0, {clientCount}], got {attackerCount}");
        if (rank is <= 0)
            throw new ArgumentException($"the attacker's rank must be positive, got {rank}");
        OwnUpdate = ownUpdate;
        HonestUpdates = honestUpdates;
        ClientCount = clientCount;
        AttackerCount = attackerCount;
        Seed = seed;
        Rank = rank ?? ownUpdate.PredominantRank;
        Alpha = alpha ?? ownUpdate.Modules[0].Alpha;
        if (!double.IsFinite(Alpha) || Alpha == 0)
            throw new ArgumentException($"the attacker's alpha must be finite and non-zero, got {Alpha}");
    }

    /// <summary>The update the attacker would send if it were honest; it also fixes the module layout.</summary>
    public LoraAdapter OwnUpdate { get; }

    /// <summary>The honest updates the attacker observes.</summary>
    public IReadOnlyList<LoraAdapter> HonestUpdates { get; }

    /// <summary>n: all clients of the round, attackers included.</summary>
    public int ClientCount { get; }

    /// <summary>f: the Byzantine clients among them.</summary>
    public int AttackerCount { get; }

    public int Rank { get; }
    public double Alpha { get; }
    public long Seed { get; }
}
