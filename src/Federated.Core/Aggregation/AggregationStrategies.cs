using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>The heterogeneous-rank strategies by name, as the CLI and federation configs spell them.</summary>
public static class AggregationStrategies
{
    public static readonly IReadOnlyList<string> Names = ["fedit", "zero-padding", "hetlora", "flora", "flexlora", "ffa"];

    /// <param name="rank">Target rank for flexlora (default: the largest client rank per module).</param>
    public static IAggregationStrategy Create(string name, int? rank = null, ScalarType? outputDType = null) =>
        name.ToLowerInvariant() switch
        {
            "fedit" => new FedItAveraging(outputDType),
            "zero-padding" => new ZeroPadding(normWeighted: false, outputDType),
            "hetlora" => new ZeroPadding(normWeighted: true, outputDType),
            "flora" => new FloraStacking(outputDType),
            "flexlora" => new FlexLoraRedistribution(rank, outputDType),
            "ffa" => new FfaLora(outputDType),
            _ => throw new ArgumentException($"unknown strategy '{name}' (expected one of: {string.Join(", ", Names)})"),
        };
}
