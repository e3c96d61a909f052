using Federated.Core.Adapters;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Robust;

/// <summary>Module-sharded aggregation (some modules per shard) against the same aggregation in one piece.</summary>
public sealed class ModuleShardTests : IDisposable
{
    readonly List<LoraAdapter> _updates;

    public ModuleShardTests()
    {
        _updates = DenseUpdates.Honest([4, 8, 2, 4, 8, 4, 2], noise: 0.5, seed: 5);
        _updates.Add(DenseUpdates.Reversed(_updates[0], 10)); // one attacker, so that the rules have something to do
    }

    public void Dispose()
    {
        foreach (var u in _updates) u.Dispose();
    }

    List<ClientUpdate> Clients() => _updates.Select((a, k) => new ClientUpdate($"client-{k}", a, ExampleCount: 100 + 30 * k)).ToList();

    public static TheoryData<string?, string?> Rules()
    {
        var data = new TheoryData<string?, string?> { { null, null }, { "fltrust", null }, { "geometric-median", "bucketing" }, { "krum", "nnm" } };
        foreach (var rule in RobustRules.FederationNames) data.Add(rule, null);
        return data;
    }

    Aggregator Build(string? rule, string? pre) =>
        new AggregatorOptions(Rule: rule, PreAggregator: pre, F: 1).Build(rootUpdate: rule == "fltrust" ? _updates[1] : null);

    [Theory]
    [MemberData(nameof(Rules))]
    public async Task Sharded_aggregation_equals_single_process_aggregation_for_every_rule(string? rule, string? pre)
    {
        using var whole = Build(rule, pre).Aggregate(Clients());

        var sharded = Build(rule, pre);
        var names = _updates[0].Modules.Select(m => m.Name).ToList();
        Assert.Equal(4, names.Count);
        IModuleShard[] shards = [new InMemoryShard(sharded, _updates, names[..1]), new InMemoryShard(sharded, _updates, names[1..3]), new InMemoryShard(sharded, _updates, names[3..])];
        var headers = Clients().Select(c => new UpdateHeader(c.ClientId, c.ExampleCount, c.AllowedRank, ModuleHeader.Of(c.Adapter))).ToList();
        using var parts = await sharded.AggregateAsync(headers, shards);

        // The Gram is summed shard by shard instead of module by module: equal to rounding, and so are the coefficients.
        Assert.Equal(whole.Report.Clients.Select(c => c.Accepted), parts.Report.Clients.Select(c => c.Accepted));
        foreach (var (a, b) in whole.Report.Clients.Zip(parts.Report.Clients))
        {
            Assert.Equal(a.Coefficient, b.Coefficient, 1e-9);
            Assert.Equal(a.Norm!.Value, b.Norm!.Value, 1e-9 * a.Norm.Value);
        }
        Assert.Equal(whole.Report.Factoring?.Select(f => f.Rank), parts.Report.Factoring?.Select(f => f.Rank));
        Assert.Equal(names, parts.Global.Modules.Select(m => m.Name));
        foreach (var (a, b) in whole.Global.Modules.Zip(parts.Global.Modules))
        {
            Assert.Equal(a.Rank, b.Rank);
            Assert.True(a.A.allclose(b.A, rtol: 1e-6, atol: 1e-7) && a.B.allclose(b.B, rtol: 1e-6, atol: 1e-7), $"module {a.Name} differs ({rule})");
        }
    }

    [Fact]
    public async Task A_value_found_bad_by_one_shard_rejects_the_update_in_every_shard()
    {
        var bad = _updates[2];
        using var poisoned = new LoraAdapter(bad.Modules.Select((m, i) => i == 3 ? m.With(m.A.clone().index_put_(double.NaN, 0, 0), m.B.clone(), m.Alpha) : m.Clone()), bad.BaseModel);
        var updates = _updates.Select((u, k) => k == 2 ? poisoned : u).ToList();
        var aggregator = new AggregatorOptions(Rule: "geometric-median").Build();
        var names = updates[0].Modules.Select(m => m.Name).ToList();
        var headers = updates.Select((u, k) => new UpdateHeader($"client-{k}", 1, null, ModuleHeader.Of(u))).ToList();

        using var result = await aggregator.AggregateAsync(headers, [new InMemoryShard(aggregator, updates, names[..2]), new InMemoryShard(aggregator, updates, names[2..])]);

        var outcome = result.Report.Clients[2];
        Assert.False(outcome.Accepted);
        Assert.Equal(RejectionReason.NonFinite, outcome.Rejection);
        Assert.Contains(names[3], outcome.RejectionMessage);
        using var expected = aggregator.Aggregate(updates.Where((_, k) => k != 2).Select((u, k) => new ClientUpdate($"c{k}", u)).ToList());
        foreach (var (a, b) in expected.Global.Modules.Zip(result.Global.Modules))
            Assert.True(a.A.allclose(b.A, rtol: 1e-6, atol: 1e-7) && a.B.allclose(b.B, rtol: 1e-6, atol: 1e-7));
    }
}
