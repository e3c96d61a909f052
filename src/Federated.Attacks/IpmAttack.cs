using static TorchSharp.torch;

namespace Federated.Attacks;

/// <summary>
/// ipm, inner product manipulation (Xie et al., UAI'19): x = -eps mu over the honest dW, to make the
/// aggregate's inner product with mu negative. The default eps = 0.1 stays close to the honest cluster
/// (against distance-based rules such as Krum); eps = 2.0 is the other common choice (against averaging).
/// </summary>
public sealed class IpmAttack : DeltaSpaceAttack
{
    public const double DefaultEpsilon = 0.1;

    public IpmAttack(double epsilon = DefaultEpsilon)
    {
        if (!double.IsFinite(epsilon))
            throw new ArgumentException($"ipm needs a finite epsilon, got {epsilon}");
        Epsilon = epsilon;
    }

    public override string Name => "ipm";
    public double Epsilon { get; }

    public override Tensor CraftDelta(AttackContext context)
    {
        using var scope = NewDisposeScope();
        return (HonestStatistics.Mean(HonestStatistics.Stack(context, Name)) * -Epsilon).MoveToOuterDisposeScope();
    }
}
