using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Attacks;

/// <summary>
/// gaussian: dW with i.i.d. N(0, sigma^2) entries drawn from the context's seed. sigma defaults to the
/// mean over coordinates of the honest updates' sample std, so the noise has their spread. Factoring
/// below full rank keeps only the top-r part of the noise, which lowers its per-coordinate std.
/// </summary>
public sealed class GaussianAttack : DeltaSpaceAttack
{
    public GaussianAttack(double? sigma = null)
    {
        if (sigma is not null && !(double.IsFinite(sigma.Value) && sigma.Value >= 0))
            throw new ArgumentException($"gaussian needs a finite non-negative sigma, got {sigma}");
        Sigma = sigma;
    }

    public override string Name => "gaussian";

    protected override bool UsesSeed => true;

    /// <summary>The requested std, or null to take it from the honest updates.</summary>
    public double? Sigma { get; }

    public override Tensor CraftDelta(AttackContext context)
    {
        using var scope = NewDisposeScope();
        long size = context.OwnUpdate.Modules.Sum(m => (long)m.OutFeatures * m.InFeatures);
        double sigma = Sigma ?? StdOfHonest(context);
        using var generator = new Generator((ulong)context.Seed);
        using var scale = sigma.ToScalar(); // held to the end of the call (HeldScalars)
        return randn(size, float64, generator: generator).mul_(scale).MoveToOuterDisposeScope();
    }

    /// <summary>The honest updates' sample std, averaged over the coordinates.</summary>
    double StdOfHonest(AttackContext context)
    {
        using var scope = NewDisposeScope();
        var honest = HonestStatistics.Stack(context, Name, minimum: 2);
        return HonestStatistics.Std(honest - HonestStatistics.Mean(honest)).mean().item<double>();
    }
}
