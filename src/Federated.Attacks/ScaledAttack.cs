using Federated.Core.Adapters;
using TorchSharp;

namespace Federated.Attacks;

/// <summary>
/// scaled: uploads factor x dW of the own honest update, exactly, as (A, factor B) at the own rank and
/// alpha. The default -10 is the "reverse" attack of the robust-aggregation literature.
/// </summary>
public sealed class ScaledAttack : IAttack
{
    public const double DefaultFactor = -10;

    public ScaledAttack(double factor = DefaultFactor)
    {
        if (!double.IsFinite(factor))
            throw new ArgumentException($"scaled needs a finite factor, got {factor}");
        Factor = factor;
    }

    public string Name => "scaled";
    public double Factor { get; }

    public LoraAdapter Craft(AttackContext context)
    {
        using var factor = Factor.ToScalar(); // held to the end of the calls (HeldScalars)
        return FactorTransform.Apply(context.OwnUpdate, (a, b) => (a, b.mul_(factor)));
    }
}
