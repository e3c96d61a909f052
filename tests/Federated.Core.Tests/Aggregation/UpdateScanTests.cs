using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Aggregation;

/// <summary>The one read of each update: the scan a strategy fills while it combines must match separate checks and norms.</summary>
public sealed class UpdateScanTests : IDisposable
{
    readonly MixedRankUpdates _mixed = new(seed: 23, ranks: [4, 8, 3, 16, 5]);
    readonly MixedRankUpdates _same = new(seed: 24, ranks: [8, 8, 8, 8], sameAlpha: true);

    public void Dispose()
    {
        _mixed.Dispose();
        _same.Dispose();
    }

    static UpdateScan NewScan(IReadOnlyList<LoraAdapter> updates) => new(updates[0].Modules.Select(m => m.Name).ToList(), updates.Count);

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void A_scanned_norm_is_the_float64_frobenius_norm_of_the_dense_update_to_1e_5(ScalarType dtype)
    {
        foreach (var update in _mixed.Updates)
        {
            using var converted = update.To(dtype);
            double expected = LoraNorms.Frobenius(converted);
            double actual = UpdateScan.Of(converted).Norm(0);
            Assert.True(Math.Abs(actual - expected) <= 1e-5 * expected, $"{actual} vs {expected}");
        }
    }

    [Theory]
    [InlineData("fedit")]
    [InlineData("zero-padding")]
    [InlineData("hetlora")]
    [InlineData("flora")]
    [InlineData("flexlora")]
    public void Every_strategy_scans_every_module_of_every_update_while_it_combines_them(string name)
    {
        var updates = name == "fedit" ? _same : _mixed;
        var scan = NewScan(updates.Updates);
        using var global = AggregationStrategies.Create(name).Aggregate(updates.Updates, updates.Coefficients, scan);
        for (int k = 0; k < updates.Updates.Count; k++)
        {
            // Norm is NaN while any module of the update went unscanned.
            double expected = LoraNorms.Frobenius(updates.Updates[k]);
            Assert.True(Math.Abs(scan.Norm(k) - expected) <= 1e-5 * expected, $"{name}, update {k}: {scan.Norm(k)} vs {expected}");
            Assert.Null(scan.FirstNonFinite(k, updates.Updates[k]));
        }
    }

    [Fact]
    public void Fedit_scans_rank_16_updates_to_the_float64_norm()
    {
        // Rank 16 takes B^T B from rotations of B's rows, and fedit reads host float32 factors in one fused pass.
        using var updates = new MixedRankUpdates(seed: 25, ranks: [16, 16, 16]);
        var scan = NewScan(updates.Updates);
        using var global = new FedItAveraging().Aggregate(updates.Updates, updates.Coefficients, scan);
        for (int k = 0; k < updates.Updates.Count; k++)
        {
            double expected = LoraNorms.Frobenius(updates.Updates[k]);
            Assert.True(Math.Abs(scan.Norm(k) - expected) <= 1e-5 * expected, $"update {k}: {scan.Norm(k)} vs {expected}");
        }
    }

    [Theory]
    [InlineData(16, 40, 24, false)] // B^T B from rotations of B's rows; rows of A end in an 8-float tail
    [InlineData(6, 37, 21, false)] // two rows of A past the blocks of four, B^T B from B transposed, odd lengths
    [InlineData(16, 40, 24, true)] // the first client's: the sums hold garbage, the products are written as if added to zeros
    [InlineData(6, 37, 21, true)]
    public void The_scan_that_sums_the_factors_gives_the_bits_of_adding_them_alone_and_the_plain_scans_norm(int rank, int inFeatures, int outFeatures, bool start)
    {
        var random = new Random(rank);
        float[] Values(int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5))];
        float[] a = Values(rank * inFeatures), b = Values(outFeatures * rank), sumA = Values(a.Length), sumB = Values(b.Length);
        const float weightA = 0.37f, weightB = 1.9f;
        // A product of -0 plus the +0 of zeroed sums is +0: the bits a zeroed start gives.
        var expectedA = a.Select((x, i) => x * weightA + (start ? 0f : sumA[i])).ToArray();
        var expectedB = b.Select((x, i) => x * weightB + (start ? 0f : sumB[i])).ToArray();
        a[1] = -0f;
        expectedA[1] = start ? 0f : -0f * weightA + sumA[1];
        using var module = new LoraModule("m", torch.tensor(a, [rank, inFeatures]), torch.tensor(b, [outFeatures, rank]), alpha: 2 * rank);

        var check = FactorScan.Scan(module, a, b, new FactorSums(sumA, weightA, sumB, weightB, start));

        static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];
        Assert.Equal(Bits(expectedA), Bits(sumA));
        Assert.Equal(Bits(expectedB), Bits(sumB));
        Assert.Equal(FactorScan.Scan(module), check);
        Assert.True(check.Finite);
    }

    [Fact]
    public void A_finite_value_too_large_to_square_stays_finite_in_the_summing_scan_with_an_infinite_norm()
    {
        float[] a = [.. Enumerable.Repeat(0.5f, 16 * 32)], b = [.. Enumerable.Repeat(0.25f, 32 * 16)];
        a[3] = 1e30f; // finite, but its square overflows the Gram's diagonal: the values decide
        using var module = new LoraModule("m", torch.tensor(a, [16, 32]), torch.tensor(b, [32, 16]), alpha: 16);
        var check = FactorScan.Scan(module, a, b, new FactorSums(new float[a.Length], 1, new float[b.Length], 1));
        Assert.True(check.Finite);
        Assert.True(double.IsPositiveInfinity(check.SquaredNorm));
    }

    [Fact]
    public void Fedit_marks_non_finite_only_the_client_and_module_holding_the_value()
    {
        using var updates = new MixedRankUpdates(seed: 26, ranks: [16, 16, 16, 16]);
        var modules = updates.Updates[0].Modules;
        // An infinity at the last value of client 1's B in module 3 (a vector's tail), a NaN inside client 2's A in module 0.
        using var infinite = new LoraAdapter(updates.Updates[1].Modules.Select((m, i) => i == 3
            ? m.With(m.A.clone(), m.B.clone().index_put_(float.PositiveInfinity, m.OutFeatures - 1, m.Rank - 1), m.Alpha) : m.Clone()));
        using var nan = new LoraAdapter(updates.Updates[2].Modules.Select((m, i) => i == 0
            ? m.With(m.A.clone().index_put_(float.NaN, 5, 7), m.B.clone(), m.Alpha) : m.Clone()));
        LoraAdapter[] inputs = [updates.Updates[0], infinite, nan, updates.Updates[3]];
        var scan = NewScan(inputs);
        using var global = new FedItAveraging().Aggregate(inputs, updates.Coefficients, scan);

        Assert.Null(scan.FirstNonFinite(0, inputs[0]));
        Assert.Equal(modules[3].Name, scan.FirstNonFinite(1, inputs[1]));
        Assert.Equal(modules[0].Name, scan.FirstNonFinite(2, inputs[2]));
        Assert.Null(scan.FirstNonFinite(3, inputs[3]));
        Assert.True(double.IsNaN(scan.Norm(1)));
        Assert.Equal(LoraNorms.Frobenius(inputs[3]), scan.Norm(3), 1e-5 * scan.Norm(3));
    }

    [Fact]
    public void Flora_leaves_updates_with_coefficient_zero_unread_and_the_scan_completes_them()
    {
        var scan = NewScan(_mixed.Updates);
        double[] coefficients = [0.5, 0, 0.5, 0, 0];
        using var global = new FloraStacking().Aggregate(_mixed.Updates, coefficients, scan);
        Assert.True(double.IsNaN(scan.Norm(1)));
        scan.Complete(1, _mixed.Updates[1]);
        Assert.Equal(LoraNorms.Frobenius(_mixed.Updates[1]), scan.Norm(1), 1e-5 * scan.Norm(1));
    }

    [Fact]
    public void A_non_finite_value_names_the_first_such_module_in_the_updates_own_order()
    {
        var update = _mixed.Updates[2];
        using var bad = new LoraAdapter(update.Modules.Select((m, i) => i is 2 or 5
            ? m.With(m.A.clone(), m.B.clone().index_put_(float.NegativeInfinity, 0, 0), m.Alpha) : m.Clone()));
        Assert.Equal(update.Modules[2].Name, UpdateScan.Of(bad).FirstNonFinite(0, bad));
    }

    public static TheoryData<string> Aggregators() => ["mean", "krum", "median", "trimmed-mean"];

    [Theory]
    [MemberData(nameof(Aggregators))]
    public void An_update_the_scan_rejects_leaves_the_aggregate_of_the_others_unchanged(string rule)
    {
        Aggregator Build() => rule switch
        {
            "mean" => new Aggregator(),
            "krum" => new Aggregator(rule: Krum.Single(1)),
            _ => new Aggregator(RobustRules.CreateCoordinateWise(rule, f: 1)),
        };
        var good = _mixed.Updates.Select((u, k) => new ClientUpdate($"c{k}", u, 10 + k)).ToList();
        var source = _mixed.Updates[0];
        using var nan = new LoraAdapter(source.Modules.Select((m, i) => i == 3
            ? m.With(m.A.clone().index_put_(float.NaN, 1, 2), m.B.clone(), m.Alpha) : m.Clone()));

        using var with = Build().Aggregate([.. good, new ClientUpdate("nan", nan, 1000)]);
        using var without = Build().Aggregate(good);
        Assert.Equal(RejectionReason.NonFinite, with.Report.Clients[^1].Rejection);
        Assert.Contains(source.Modules[3].Name, with.Report.Clients[^1].RejectionMessage);
        Assert.Equal(without.Report.Clients.Select(c => c.Coefficient), with.Report.Clients.SkipLast(1).Select(c => c.Coefficient));
        Assert.Equal(without.Report.Clients.Select(c => c.Norm), with.Report.Clients.SkipLast(1).Select(c => c.Norm));
        foreach (var m in without.Global.Modules)
        {
            using var expected = m.DenseDelta();
            using var actual = with.Global[m.Name].DenseDelta();
            using var same = expected.eq(actual).all();
            Assert.True(same.item<bool>());
        }
    }
}
