using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Attacks;

/// <summary>
/// alie, "A Little Is Enough" (Baruch et al., NeurIPS'19): x = mu - z_max sigma coordinate-wise over the
/// honest dW, with mu their mean and sigma their sample std (see <see cref="HonestStatistics.Std"/>).
/// The shift stays within the honest spread, so it survives median, trimmed mean and Krum.
/// </summary>
public sealed class AlieAttack : DeltaSpaceAttack
{
    public override string Name => "alie";

    /// <summary>
    /// z_max = PhiInv((n - s) / n) with s = floor(n/2 + 1) - f: the number of honest clients the
    /// attackers need on their side for a majority.
    /// </summary>
    public static double ZMax(int clientCount, int attackerCount)
    {
        int supporters = clientCount / 2 + 1 - attackerCount;
        if (supporters < 1)
            throw new ArgumentException($"alie needs floor(n/2 + 1) - f >= 1, got n = {clientCount}, f = {attackerCount}");
        return StandardNormal.InverseCdf((double)(clientCount - supporters) / clientCount);
    }

    public override Tensor CraftDelta(AttackContext context)
    {
        double z = ZMax(context.ClientCount, context.AttackerCount);
        using var scope = NewDisposeScope();
        var honest = HonestStatistics.Stack(context, Name, minimum: 2);
        var mean = HonestStatistics.Mean(honest);
        using var shift = z.ToScalar(); // held to the end of the call (HeldScalars)
        return (mean - HonestStatistics.Std(honest - mean) * shift).MoveToOuterDisposeScope();
    }
}
