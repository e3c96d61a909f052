using Federated.Core.Adapters;
using TorchSharp;

namespace Federated.Attacks;

/// <summary>
/// factor-rescaling: uploads (A / c, c B) of the own honest update. dW is unchanged (up to float
/// rounding), but per-factor statistics (averaging A and B separately, factor norms, per-factor
/// medians) see a wildly different client: B A = (B R)(R^-1 A) makes them ill-posed.
/// </summary>
public sealed class FactorRescalingAttack : IAttack
{
    public const double DefaultFactor = 100;

    public FactorRescalingAttack(double factor = DefaultFactor)
    {
        if (!double.IsFinite(factor) || factor == 0)
            throw new ArgumentException($"factor-rescaling needs a finite non-zero factor, got {factor}");
        Factor = factor;
    }

    public string Name => "factor-rescaling";
    public double Factor { get; }

    public LoraAdapter Craft(AttackContext context)
    {
        using var factor = Factor.ToScalar(); // held to the end of the calls (HeldScalars)
        return FactorTransform.Apply(context.OwnUpdate, (a, b) => (a.div_(factor), b.mul_(factor)));
    }
}
