using Federated.Core.Adapters;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>
/// The adapter every client of a federation starts from in round 1 when the strategy shares one: A as PEFT initialises
/// it (Kaiming-uniform, bound 1/sqrt(d_in)) drawn on the CPU from the federation's seed, B = 0. Drawn once by the
/// coordinator and handed out as a stored payload, so no two devices need to agree on a random stream.
/// </summary>
public static class SeededAdapter
{
    public static LoraAdapter Create(IReadOnlyList<ModuleShape> modules, int rank, double alpha, long seed, string? baseModel)
    {
        if (rank <= 0) throw new ArgumentException($"rank must be positive, got {rank}");
        if (modules.Count == 0) throw new ArgumentException("no modules to initialise");
        using var generator = new Generator(unchecked((ulong)seed));
        var built = new List<LoraModule>(modules.Count);
        foreach (var m in modules)
            built.Add(new LoraModule(m.Name, FreshA(rank, m.InFeatures, generator), zeros(m.OutFeatures, rank, float32), alpha));
        return new LoraAdapter(built, baseModel);
    }

    /// <summary>A as PEFT initialises it: Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(d_in), 1/sqrt(d_in)), float32 on the CPU.</summary>
    public static Tensor FreshA(int rank, long inFeatures, Generator generator)
    {
        double bound = 1.0 / Math.Sqrt(inFeatures);
        using var scope = NewDisposeScope();
        using var width = (2 * bound).ToScalar(); // held to the end of the calls (HeldScalars)
        using var low = bound.ToScalar();
        return rand(rank, inFeatures, float32, generator: generator).mul_(width).sub_(low).MoveToOuterDisposeScope();
    }
}
