using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Aggregation;

/// <summary>
/// FLoRA stacking and FedIT over K clients with the q/k/v/o LoRA shapes of a 0.5B-class model
/// (Qwen2-0.5B: hidden 896, 24 layers, k/v projecting to 128, r = 16, fp32), against a memory copy
/// of the same bytes measured in the same run. Run: deploy/benchmark.sh
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
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(10).WithInvocationCount(1).WithUnrollFactor(1));
            AddColumn(new ThroughputColumn(c => UpdateBytes((int)c.Parameters["Clients"])));
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
