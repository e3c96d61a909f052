using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>
/// A heterogeneous-rank strategy as a federation runs it across rounds (ALGORITHMS.md A1-A5): what it is (mixed ranks,
/// exact or not, which factors are frozen), what a selected client receives, how a round's updates combine, and how the
/// federation's model moves on. Grains, simulator, CLI and validation ask it instead of keeping lists of names.
/// <para>
/// A federation's model is base + merged history + live adapter. A strategy that <see cref="AccumulatesHistory"/> appends
/// each round's aggregate to the history (clients start fresh branches on base + history); the others replace the live
/// adapter with it, and each client continues from <see cref="ClientInit"/> of the live adapter at its own rank.
/// </para>
/// </summary>
public abstract class FederatedStrategy
{
    public abstract string Name { get; }

    /// <summary>One line for <c>--help</c> and docs.</summary>
    public abstract string Description { get; }

    /// <summary>Clients may train at different ranks in one round.</summary>
    public abstract bool MixedRanks { get; }

    /// <summary>The round's combined dW equals sum_k c_k dW_k exactly.</summary>
    public abstract bool Exact { get; }

    /// <summary>Clients never train A: every upload's A must equal the A it was handed, bit for bit.</summary>
    public virtual bool FreezesA => false;

    /// <summary>
    /// The round's aggregate joins the merged history and clients start fresh branches (A seeded, B = 0) on base + history;
    /// false: it becomes the live adapter, which clients continue from <see cref="ClientInit"/> (fresh only while there is none).
    /// </summary>
    public virtual bool AccumulatesHistory => false;

    /// <summary>Round 1's clients start from one adapter drawn from the federation's seed (needs the base's module shapes).</summary>
    public virtual bool SeedsInitialAdapter => false;

    /// <summary>Coordinate-wise robust rules return a dense delta: only a strategy that merges it into the history can use one.</summary>
    public bool AcceptsDenseResult => AccumulatesHistory;

    /// <summary>How a round's updates combine, given each update's coefficient (p_k, or a robust rule's gamma_k).</summary>
    /// <param name="globalEnergy">
    /// The FLoRIST energy threshold a stacked global (flora, flexlora) is truncated at, module by module (ALGORITHMS.md A8);
    /// null: exact. The other strategies' globals are at the clients' largest rank already: they refuse it.
    /// </param>
    public abstract IAggregationStrategy Combiner(ScalarType? outputDType = null, double? globalEnergy = null);

    /// <summary>Whether <see cref="Combiner"/> takes an energy threshold: its global is a FLoRA stack.</summary>
    public virtual bool StacksGlobal => false;

    /// <summary>For the strategies whose global is no stack: refuses an energy threshold.</summary>
    protected IAggregationStrategy WithoutEnergy(double? globalEnergy, IAggregationStrategy combiner) => globalEnergy is null ? combiner
        : throw new ArgumentException($"the energy threshold truncates a stacked global (flora, flexlora); {Name}'s global is at the clients' rank already");

    /// <summary>
    /// The live adapter of round 1 (A drawn from the federation's seed, B = 0) at rank <paramref name="rank"/>, or null when
    /// round 1's clients start fresh branches.
    /// </summary>
    public virtual LoraAdapter? InitialLive(IReadOnlyList<ModuleShape> modules, int rank, double alpha, long seed, string? baseModel) => null;

    /// <summary>What a client assigned <paramref name="rank"/> starts from, or null for fresh branches. Does not take <paramref name="live"/>.</summary>
    public virtual LoraAdapter? ClientInit(LoraAdapter live, int rank, double alpha) => null;

    /// <summary>The next live adapter from the round's aggregate (takes ownership of <paramref name="aggregate"/>, not of <paramref name="live"/>).</summary>
    public virtual LoraAdapter NextLive(LoraAdapter? live, LoraAdapter aggregate) => aggregate;

    public override string ToString() => Name;
}
