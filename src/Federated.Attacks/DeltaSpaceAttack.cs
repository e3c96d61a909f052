using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Attacks;

/// <summary>
/// An attack crafted as one dense dW over the whole adapter, then factored to the attacker's rank and
/// alpha by truncated SVD (<see cref="DeltaFactorization.Factor(Tensor, LoraAdapter, int, double)"/>).
/// Below full rank the upload is the best rank-r approximation of the crafted dW.
/// </summary>
public abstract class DeltaSpaceAttack : IAttack
{
    public abstract string Name { get; }

    /// <summary>The dW is crafted from the honest updates (and n, f, seed); the own update gives only the layout.</summary>
    public bool ReadsOwnUpdate => false;

    public LoraAdapter Craft(AttackContext context)
    {
        using var delta = CraftDelta(context);
        return DeltaFactorization.Factor(delta, context.OwnUpdate, context.Rank, context.Alpha);
    }

    /// <summary>
    /// Attackers whose contexts agree on what the dW depends on (the same honest updates, n, f, layout, and seed where
    /// <see cref="UsesSeed"/>) get one crafted dW, each module decomposed once and factored at every attacker's rank and
    /// alpha: in a simulated round of 30% attackers this is a third of the work, with the same bits.
    /// </summary>
    public IReadOnlyList<LoraAdapter> CraftAll(IReadOnlyList<AttackContext> contexts)
    {
        var crafted = new LoraAdapter[contexts.Count];
        try
        {
            foreach (var group in Enumerable.Range(0, contexts.Count).GroupBy(i => Observation(contexts[i])))
            {
                var first = contexts[group.First()];
                using var delta = CraftDelta(first);
                var uploads = DeltaFactorization.Factor(delta, first.OwnUpdate, group.Select(i => (contexts[i].Rank, contexts[i].Alpha)).ToList());
                foreach (var (i, upload) in group.Zip(uploads)) crafted[i] = upload;
            }
            return crafted;
        }
        catch
        {
            foreach (var upload in crafted) upload?.Dispose();
            throw;
        }
    }

    /// <summary>Whether the crafted dW depends on the context's seed, not only on what the attacker observes.</summary>
    protected virtual bool UsesSeed => false;

    /// <summary>What <see cref="CraftDelta"/> reads from a context (the honest list by reference).</summary>
    (object Honest, int N, int F, string Layout, long? Seed) Observation(AttackContext c) =>
        (c.HonestUpdates, c.ClientCount, c.AttackerCount,
         string.Join(";", c.OwnUpdate.Modules.Select(m => $"{m.Name}:{m.OutFeatures}x{m.InFeatures}")) + $"|{c.OwnUpdate.UseRsLora}|{c.OwnUpdate.BaseModel}",
         UsesSeed ? c.Seed : null);

    /// <summary>
    /// The crafted dW as a float64 vector in the <see cref="DeltaFactorization.Flatten"/> layout of the
    /// own update, before factoring. The caller owns it.
    /// </summary>
    public abstract Tensor CraftDelta(AttackContext context);
}
