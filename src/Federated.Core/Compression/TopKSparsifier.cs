using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// Keeps the k = ceil(fraction * numel) largest-magnitude entries of each factor and drops the rest.
/// Stateless, so what it drops is lost; <see cref="TopKErrorFeedback"/> carries it into the next round.
/// </summary>
public sealed class TopKSparsifier : AdapterCompressor
{
    public TopKSparsifier(double fraction)
    {
        TopKSelection.CheckFraction(fraction);
        Fraction = fraction;
    }

    public double Fraction { get; }
    public override CompressionScheme Scheme => CompressionScheme.TopK;

    protected override CompressedTensor CompressFactor(string key, Tensor factor) => Sparsify(factor, Fraction);

    /// <summary>The top-k of <paramref name="factor"/> (float32 CPU matrix); tensors land in the current dispose scope.</summary>
    internal static SparseTensor Sparsify(Tensor factor, double fraction)
    {
        var flat = factor.flatten();
        var positions = TopKSelection.LargestMagnitudes(flat, TopKSelection.KeptCount(fraction, flat.numel()));
        var rows = (int)factor.shape[0];
        var columns = (int)factor.shape[1];
        return SparseTensor.Create(rows, columns, positions, flat.index_select(0, positions).contiguous());
    }
}
