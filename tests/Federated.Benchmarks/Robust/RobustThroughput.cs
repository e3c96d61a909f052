using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Robust;
using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Robust;

/// <summary>
/// Robust aggregation on K clients with mixed ranks (4, 8, 16, 32 in turn) on the q/k/v/o shapes of a
/// 0.5B-class model (Qwen2-0.5B). Gram: the factor-space Gram matrix; PlainGemm: the same two GEMMs per
/// module (B^T B and A A^T at the stacked rank) on ready matrices, the work the Gram cannot avoid. The
/// rules' coefficient steps run on a precomputed Gram: a rule's total is Gram + its step.
/// Median: the whole coordinate-median rule on one 896 x 896 module (dense deltas, lower median,
/// exact re-factorisation) against torch's selection alone on the same stacked deltas (kthvalue: what
/// torch.median(dim) runs; TorchSharp has no median(dim)).
/// Run: deploy/benchmark.sh --filter '*RobustThroughput*'
/// </summary>
[Config(typeof(Config))]
public class RobustThroughput
{
    static readonly IReadOnlyList<ModuleShape> Shapes =
        ModuleShape.LlamaFamily(hidden: 896, layers: 24, targets: ["q_proj", "k_proj", "v_proj", "o_proj"], kvDim: 128);
    static readonly int[] RankCycle = [4, 8, 16, 32];

    sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1));
            AddColumn(new RateColumn("GFLOP/s", "Gram-equivalent GEMM FLOPs, 2 R^2 (d_out + d_in) per module, per second",
                c => c.Descriptor.WorkloadMethod.Name is nameof(Gram) or nameof(PlainGemm) ? GramFlops((int)c.Parameters["Clients"]) : null));
        }
    }

    [Params(10, 50, 100)]
    public int Clients { get; set; }

    List<LoraAdapter> _updates = [];
    double[] _weights = [];
    UpdateGram _gram = null!;
    List<(Tensor B, Tensor A)> _gemmInputs = [];
    List<LoraAdapter> _oneModule = [];
    Tensor _stacked = null!;

    static int StackedRank(int clients) => Enumerable.Range(0, clients).Sum(k => RankCycle[k % RankCycle.Length]);

    /// <summary>FLOPs of the two R x R GEMMs per module: 2 R^2 (d_out + d_in).</summary>
    internal static double GramFlops(int clients)
    {
        double r = StackedRank(clients);
        return Shapes.Sum(s => 2 * r * r * (s.OutFeatures + s.InFeatures));
    }

    [GlobalSetup]
    public void Setup()
    {
        NativeAllocator.RetainFreedMemory();
        _updates = Enumerable.Range(0, Clients)
            .Select(k => RandomAdapters.Create(Shapes, RankCycle[k % RankCycle.Length], 2.0 * RankCycle[k % RankCycle.Length], seed: k)).ToList();
        _weights = ClientWeights.Equal(Clients);
        _gram = UpdateGram.Compute(_updates);
        int r = StackedRank(Clients);
        _gemmInputs = Shapes.Select(s => (randn(s.OutFeatures, r), randn(r, s.InFeatures))).ToList();
        _oneModule = _updates.Select(u => new LoraAdapter([u.Modules[0].Clone()])).ToList();
        using (no_grad()) _stacked = stack(_oneModule.Select(u => u.Modules[0].DenseDelta()).ToList());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var u in _updates) u.Dispose();
        foreach (var (b, a) in _gemmInputs) { b.Dispose(); a.Dispose(); }
        foreach (var u in _oneModule) u.Dispose();
        _stacked.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void PlainGemm()
    {
        foreach (var (b, a) in _gemmInputs)
        {
            using var bb = b.t().matmul(b);
            using var aa = a.matmul(a.t());
        }
    }

    [Benchmark]
    public UpdateGram Gram() => UpdateGram.Compute(_updates);

    [Benchmark] public double[] KrumStep() => Krum.Single(Math.Max(0, (Clients - 3) / 2)).Weigh(_gram, _weights);
    [Benchmark] public double[] GeometricMedianStep() => new GeometricMedian().Weigh(_gram, _weights);
    [Benchmark] public double[] CenteredClippingStep() => new CenteredClipping().Weigh(_gram, _weights);
    [Benchmark] public double[] FlagStep() => new FlagAggregator().Weigh(_gram, _weights);

    /// <summary>torch's selection over dim 0 of the stacked deltas: what torch.median(dim) computes.</summary>
    [Benchmark]
    public void TorchMedianKernel()
    {
        var (values, indices) = _stacked.kthvalue((Clients + 1) / 2, 0, false);
        values.Dispose();
        indices.Dispose();
    }

    /// <summary>The median rule end to end on the same module: materialise, select, re-factor.</summary>
    [Benchmark]
    public void CoordinateMedianRule()
    {
        var (global, _) = new CoordinateMedian().Aggregate(_oneModule);
        global.Dispose();
    }
}
