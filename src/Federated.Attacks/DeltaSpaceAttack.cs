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

    public LoraAdapter Craft(AttackContext context)
    {
        using var delta = CraftDelta(context);
        return DeltaFactorization.Factor(delta, context.OwnUpdate, context.Rank, context.Alpha);
    }

    /// <summary>
    /// The crafted dW as a float64 vector in the <see cref="DeltaFactorization.Flatten"/> layout of the
    /// own update, before factoring. The caller owns it.
    /// </summary>
    public abstract Tensor CraftDelta(AttackContext context);
}
