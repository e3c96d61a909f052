using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>The heterogeneous-rank strategies by name, as the CLI and federation configs spell them.</summary>
public static class AggregationStrategies
{
    public static readonly IReadOnlyList<string> Names = ["fedit", "zero-padding", "hetlora", "flora", "flexlora", "ffa"];

    /// <param name="rank">Target rank for flexlora (default: the largest client rank per module).</param>
    /// <param name="globalEnergy">flora: the FLoRIST energy threshold each module is truncated at (<see cref="FloraStacking"/>).</param>
    public static IAggregationStrategy Create(string name, int? rank = null, ScalarType? outputDType = null, double? globalEnergy = null) =>
        name.ToLowerInvariant() switch
        {
            "flora" => new FloraStacking(outputDType, globalEnergy),
            _ when globalEnergy is not null && Names.Contains(name.ToLowerInvariant()) =>
                throw new ArgumentException($"the energy threshold truncates a FLoRA stack, which {name} does not write (use flora)"),
            "fedit" => new FedItAveraging(outputDType),
            "zero-padding" => new ZeroPadding(normWeighted: false, outputDType),
            "hetlora" => new ZeroPadding(normWeighted: true, outputDType),
            "flexlora" => new FlexLoraRedistribution(rank, outputDType),
            "ffa" => new FfaLora(outputDType),
            _ => throw new ArgumentException($"unknown strategy '{name}' (expected one of: {string.Join(", ", Names)})"),
        };
}
