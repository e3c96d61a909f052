using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Aggregation;

/// <summary>
/// FLoRA stacking and FedIT over K clients with the q/k/v/o LoRA shapes of a 0.5B-class model
/// (Qwen2-0.5B: hidden 896, 24 layers, k/v projecting to 128, r = 16, fp32), against a memory copy
/// of the same bytes measured in the same run: into an existing buffer (the bandwidth ceiling) and into
/// a fresh one (what producing any new adapter costs). The process retains freed native memory, as the
/// hosts that aggregate do (NativeAllocator). At K = 100 (rank 1,600 a module) every module is past min(d_out, d_in), so
/// FloraStacking there writes the lossless bound (ALGORITHMS.md A8; BoundedGlobalBenchmark), not the plain stack.
/// Run: deploy/benchmark.sh
/// </summary>
[Config(typeof(Config))]
public class StackingThroughput
{
    static readonly IReadOnlyList<ModuleShape> Shapes =
        ModuleShape.LlamaFamily(hidden: 896, layers: 24, targets: ["q_proj", "k_proj", "v_proj", "o_proj"], kvDim: 128);

    sealed class Config : ManualConfig
    {
        public Config()
        {
            // In-process: the benchmark runs from this project's build output, where the TorchSharp native
            // compat step has run; BenchmarkDotNet's generated per-job projects do not get it. Six warm-up
            // iterations let tiered JIT reach its optimised code and the allocator its steady state.
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(6).WithIterationCount(15).WithInvocationCount(4).WithUnrollFactor(1));
            AddColumn(new RateColumn("GB/s", "Client update bytes processed per second (GB = 1e9 bytes)", c => UpdateBytes((int)c.Parameters["Clients"])));
        }
    }

    static long UpdateBytes(int clients) => clients * Shapes.Sum(s => 16L * (s.InFeatures + s.OutFeatures)) * sizeof(float);

    [Params(10, 100)]
    public int Clients { get; set; }

    List<LoraAdapter> _updates = [];
    double[] _weights = [];
    Tensor _source = null!, _target = null!;

    [GlobalSetup]
    public void Setup()
    {
        NativeAllocator.RetainFreedMemory();
        set_num_threads(Environment.ProcessorCount);
        _updates = Enumerable.Range(0, Clients).Select(k => RandomAdapters.Create(Shapes, rank: 16, alpha: 32, seed: k)).ToList();
        _weights = ClientWeights.FromExampleCounts(Enumerable.Range(1, Clients).Select(k => (long)(100 + k)).ToArray());
        _source = ones(UpdateBytes(Clients) / sizeof(float));
        _target = zeros_like(_source);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var u in _updates) u.Dispose();
        _source.Dispose();
        _target.Dispose();
    }

    /// <summary>One copy of all client bytes into a buffer: the bandwidth stacking should approach.</summary>
    [Benchmark(Baseline = true)]
    public void MemoryCopy() => _target.copy_(_source);

    /// <summary>The same copy into a newly allocated buffer.</summary>
    [Benchmark]
    public void AllocateAndCopy()
    {
        using var copy = _source.clone();
    }

    [Benchmark]
    public void FloraStacking()
    {
        using var global = new FloraStacking().Aggregate(_updates, _weights);
    }

    [Benchmark]
    public void FedIt()
    {
        using var global = new FedItAveraging().Aggregate(_updates, _weights);
    }
}
