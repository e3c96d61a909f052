using Federated.Core.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Attacks;

/// <summary>Coordinate-wise statistics of the observed honest updates, in the flattened dW space.</summary>
static class HonestStatistics
{
    /// <summary>n x D float64: each honest update flattened in the layout of the attacker's own update.</summary>
    public static Tensor Stack(AttackContext context, string attack, int minimum = 1)
    {
        if (context.HonestUpdates.Count < minimum)
            throw new ArgumentException($"{attack} needs at least {minimum} observed honest update(s), got {context.HonestUpdates.Count}");
        using var scope = NewDisposeScope();
        return stack(context.HonestUpdates.Select(u => DeltaFactorization.Flatten(u, context.OwnUpdate)), 0).MoveToOuterDisposeScope();
    }

    public static Tensor Mean(Tensor honest) => honest.mean([0]);

    /// <summary>
    /// The sample standard deviation (Bessel's n - 1), as torch.std in the ALIE and NDSS'21 reference
    /// code, from the n >= 2 updates' deviations from their mean (<paramref name="centred"/>, n x D): their squares summed
    /// down the rows. libtorch's std over dim 0 runs a Welford reduction that took 80 ms for 7 x 524,288 float64 values
    /// here, this 6 ms.
    /// </summary>
    public static Tensor Std(Tensor centred)
    {
        using var scope = NewDisposeScope();
        using var degrees = ((double)centred.shape[0] - 1).ToScalar(); // held to the end of the call (HeldScalars)
        return centred.pow(HeldScalars.Two).sum(dim: 0).div_(degrees).sqrt_().MoveToOuterDisposeScope();
    }
}
