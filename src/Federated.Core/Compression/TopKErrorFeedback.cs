using Federated.Core.Runtime;
using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// Top-k with error feedback, one instance per client: each round sends c = TopK(u) of u = d + e and keeps
/// e = u - c, so what a round drops is sent later instead of lost. Over rounds the sum of what was sent
/// tracks the sum of the updates, with the residual bounded (top-k keeps at least the fraction k / n of
/// ||u||^2, so ||e|| &lt;= q / (1 - q) max ||d|| with q = sqrt(1 - k / n)).
/// </summary>
public sealed class TopKErrorFeedback : AdapterCompressor, IDisposable
{
    readonly Dictionary<string, Tensor> _residuals = new(StringComparer.Ordinal);

    public TopKErrorFeedback(double fraction)
    {
        TopKSelection.CheckFraction(fraction);
        Fraction = fraction;
    }

    public double Fraction { get; }
    public override CompressionScheme Scheme => CompressionScheme.TopK;

    /// <summary>Forgets the residuals, e.g. when the client starts over from a new global adapter.</summary>
    public void Reset()
    {
        foreach (var residual in _residuals.Values) residual.Dispose();
        _residuals.Clear();
    }

    protected override CompressedTensor CompressFactor(string key, Tensor factor)
    {
        var u = factor;
        if (_residuals.TryGetValue(key, out var residual))
        {
            if (!residual.shape.SequenceEqual(factor.shape))
                throw new AdapterShapeException(
                    $"{key} is [{string.Join(", ", factor.shape)}] but was [{string.Join(", ", residual.shape)}] in earlier rounds; Reset() the error feedback first");
            u = factor.add(residual, HeldScalars.One);
        }
        var sent = TopKSparsifier.Sparsify(u, Fraction);

        // e = u - c is u with the sent entries zeroed (exactly: they cancel).
        var next = u.flatten().index_fill(0, sent.Indices.to(int64), HeldScalars.Zero).view_as(u).DetachFromDisposeScope();
        residual?.Dispose();
        _residuals[key] = next;
        return sent;
    }

    public void Dispose() => Reset();
}
