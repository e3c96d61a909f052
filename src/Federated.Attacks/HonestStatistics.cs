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
    /// code; needs at least two honest updates.
    /// </summary>
    public static Tensor Std(Tensor honest) => honest.std(0, unbiased: true);
}
