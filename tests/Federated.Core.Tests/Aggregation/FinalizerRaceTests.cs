using Federated.Attacks;
using Federated.Core.Compression;
using Federated.Core.Export;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Aggregation;

/// <summary>
/// Aggregation, export and decoding run while the coordinator's other threads allocate, attacks while the simulator's
/// clients train, so a collection can land in any of their TorchSharp calls (see <see cref="UnderCollections"/>). Before
/// every number passed to TorchSharp was a held scalar (HeldScalars), FLoRA's dense sum failed here within a second, every run.
/// </summary>
[Collection(Name)]
public sealed class FinalizerRaceTests
{
    public const string Name = "Finalizer race (alone)";

    [Theory]
    [InlineData("flora", null)] // ranks 8 x 10 = 80 > 48: every stack is written as its dense sum (matmul, then add_)
    [InlineData("flexlora", null)] // SVD of the stack, B = U S
    [InlineData("fedit", "flag")] // FLAG's IRLS on the Gram (pow, add, where on small tensors)
    public void Aggregation_survives_collections_and_finalizers_running_throughout(string strategy, string? rule)
    {
        using var data = new MixedRankUpdates(seed: 31, ranks: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8], sameAlpha: true);
        var updates = data.Updates.Select((u, k) => new ClientUpdate($"c{k}", u, 10 + k)).ToList();
        var aggregator = new AggregatorOptions(strategy, rule).Build();
        // At least 20 calls and 2 s: before the fix, FLoRA failed within a second and FLAG in one run of two.
        UnderCollections.Run(_ => aggregator.Aggregate(updates).Dispose(), calls: 20, TimeSpan.FromSeconds(2));
    }

    public static TheoryData<string> AttackNames() => [.. ByzantineAttacks.Names];

    /// <summary>The simulator's attackers craft while its clients train and its coordinator runs.</summary>
    [Theory]
    [MemberData(nameof(AttackNames))]
    public void Attacks_survive_collections_and_finalizers_running_throughout(string attack)
    {
        using var data = new MixedRankUpdates(seed: 32, ranks: [4, 8, 4, 8, 4, 8, 4, 8], sameAlpha: true);
        var honest = data.Updates;
        UnderCollections.Run(call => ByzantineAttacks.Create(attack)
            .Craft(new AttackContext(honest[call % honest.Count], honest, clientCount: 11, attackerCount: 3, seed: call)).Dispose(),
            calls: 10, TimeSpan.FromSeconds(1));
    }

    /// <summary>The coordinator exports the federation's model and decodes compressed uploads while its grains run.</summary>
    [Theory]
    [InlineData("exact")]
    [InlineData("truncated")]
    [InlineData("vllm")]
    [InlineData("int8")]
    [InlineData("int8-stochastic")]
    [InlineData("topk")]
    [InlineData("ternary")]
    public void Export_and_compression_survive_collections_and_finalizers_running_throughout(string path)
    {
        using var data = new MixedRankUpdates(seed: 33, ranks: [4, 8, 4], sameAlpha: true);
        var deltas = data.Updates;
        UnderCollections.Run(call =>
        {
            switch (path)
            {
                case "exact": CumulativeExport.Exact(deltas).Dispose(); break;
                case "truncated": CumulativeExport.Truncated(deltas, rank: 6).Adapter.Dispose(); break;
                case "vllm": CumulativeExport.ForVllm(deltas).Adapter.Dispose(); break;
                default:
                    var compressor = path switch
                    {
                        "int8-stochastic" => AdapterCompressors.Create("int8", stochasticSeed: call),
                        "topk" => new TopKErrorFeedback(0.2), // the agent's: the residual carried into the next round
                        _ => AdapterCompressors.Create(path, fraction: 0.2),
                    };
                    using (compressor as IDisposable)
                    using (var compressed = compressor.Compress(deltas[call % deltas.Count]))
                    using (compressed.Decompress()) { }
                    break;
            }
        }, calls: 10, TimeSpan.FromSeconds(1));
    }
}

[CollectionDefinition(FinalizerRaceTests.Name, DisableParallelization = true)]
public sealed class FinalizerRaceCollection;
