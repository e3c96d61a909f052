using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Adapters;

/// <summary>
/// Seeded random adapters that look like trained ones: A as PEFT initialises it (uniform with
/// Kaiming bound 1/sqrt(d_in)) and B non-zero, small, Gaussian. For tests, benchmarks and demos.
/// </summary>
public static class RandomAdapters
{
    public static LoraAdapter Create(IReadOnlyList<ModuleShape> shapes, int rank, double alpha, long seed,
        ScalarType dtype = ScalarType.Float32, bool useRsLora = false, double bStd = 0.02, string? baseModel = null)
    {
        if (rank <= 0) throw new ArgumentException($"rank must be positive, got {rank}");
        using var generator = new Generator((ulong)seed);
        var modules = shapes.Select(s =>
        {
            using var scope = NewDisposeScope();
            double bound = 1.0 / Math.Sqrt(s.InFeatures);
            using var width = (2 * bound).ToScalar(); // held to the end of the calls (HeldScalars)
            using var low = bound.ToScalar();
            using var std = bStd.ToScalar();
            var a = rand(rank, s.InFeatures, float32, generator: generator).mul_(width).sub_(low).to(dtype);
            var b = randn(s.OutFeatures, rank, float32, generator: generator).mul_(std).to(dtype);
            return new LoraModule(s.Name, a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), alpha, useRsLora);
        }).ToList();
        return new LoraAdapter(modules, baseModel);
    }
}
