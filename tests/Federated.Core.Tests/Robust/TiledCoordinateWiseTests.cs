using System.Runtime.Intrinsics;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Robust;

/// <summary>
/// The tiled coordinate-wise rules against what they replaced: every update's dense delta stacked whole (K x d_out x d_in)
/// and reduced by libtorch (kthvalue; sort then mean). Shapes whose widths are not multiples of 16 exercise the partial lanes.
/// </summary>
public sealed class TiledCoordinateWiseTests : IDisposable
{
    readonly List<LoraAdapter> _updates;

    public TiledCoordinateWiseTests()
    {
        var shapes = new[] { new ModuleShape("layers.0.q_proj", 40, 40), new ModuleShape("layers.0.v_proj", 40, 13), new ModuleShape("layers.0.o_proj", 21, 50) };
        int[] ranks = [4, 8, 2, 4, 8, 16, 4, 2, 8, 4, 6, 3];
        _updates = ranks.Select((r, k) => RandomAdapters.Create(shapes, r, alpha: 1.5 * r, seed: 70 + k, bStd: 0.2)).ToList();
    }

    public void Dispose()
    {
        foreach (var u in _updates) u.Dispose();
    }

    /// <summary>The replaced implementation: torch's reduction over dim 0 of the stacked dense deltas of one module.</summary>
    static Tensor Stacked(IReadOnlyList<LoraAdapter> updates, string module, Func<Tensor, Tensor> reduce)
    {
        using var scope = NewDisposeScope();
        var deltas = stack(updates.Select(u => u[module].DenseDelta()).ToList());
        return reduce(deltas).MoveToOuterDisposeScope();
    }

    static bool Same(Tensor x, Tensor y)
    {
        using var equal = x.eq(y).all();
        return x.shape.SequenceEqual(y.shape) && equal.item<bool>();
    }

    [Theory]
    [InlineData(12)]
    [InlineData(11)]
    [InlineData(2)]
    [InlineData(1)]
    public void Median_equals_torchs_lower_median_of_the_stacked_dense_deltas_bit_for_bit(int count)
    {
        var updates = _updates.Take(count).ToList();
        var rule = new CoordinateMedian();
        foreach (var module in updates[0].Modules)
        {
            using var actual = rule.CombineModule(updates.Select(u => u[module.Name]).ToList());
            using var expected = Stacked(updates, module.Name, d => d.kthvalue((d.size(0) + 1) / 2, 0).Item1);
            Assert.True(Same(actual, expected), $"module {module.Name} differs: max |diff| {(actual - expected).abs().max().item<float>()}");
        }
    }

    [Fact]
    public void Each_dense_delta_value_is_libtorchs_matmul_then_scale_bit_for_bit()
    {
        foreach (var module in _updates[0].Modules)
        {
            var column = _updates.Select(u => u[module.Name]).ToList();
            using var deltas = new ModuleDeltas(column);
            int n = column.Count, d_out = module.OutFeatures, d_in = module.InFeatures;
            var values = new Vector512<float>[d_out * n];
            for (int j = 0; j < d_in; j += ModuleDeltas.Lanes)
            {
                deltas.Block(0, d_out, j, values);
                for (int k = 0; k < n; k++)
                {
                    using var expected = column[k].DenseDelta();
                    var e = expected.data<float>().ToArray();
                    for (int i = 0; i < d_out; i++)
                        for (int l = 0; l < Math.Min(ModuleDeltas.Lanes, d_in - j); l++)
                            Assert.Equal(BitConverter.SingleToInt32Bits(e[i * d_in + j + l]), BitConverter.SingleToInt32Bits(values[i * n + k][l]));
                }
            }
        }
    }

    [Fact]
    public void Trimmed_mean_equals_sort_then_mean_of_the_stacked_dense_deltas_to_float_rounding()
    {
        const int trim = 3;
        var rule = new TrimmedMean(trim);
        foreach (var module in _updates[0].Modules)
        {
            using var actual = rule.CombineModule(_updates.Select(u => u[module.Name]).ToList());
            using var expected = Stacked(_updates, module.Name, d => d.sort(0).Values.narrow(0, trim, d.size(0) - 2 * trim).mean([0]));
            // Both sum 6 float32 values, in different orders: a few ulps of the largest kept value.
            Assert.True(actual.allclose(expected, rtol: 1e-6, atol: 1e-6 * expected.abs().max().item<float>()));
        }
    }

    [Fact]
    public void Bulyans_coordinate_step_is_the_mean_of_the_beta_values_nearest_the_lower_median()
    {
        const int f = 2;
        var chosen = _updates.Take(4 * f + 3).ToList();
        var rule = new Bulyan(f);
        foreach (var module in chosen[0].Modules)
        {
            using var actual = rule.CombineModule(chosen.Select(u => u[module.Name]).ToList());
            using var expected = Stacked(chosen, module.Name, d =>
            {
                var median = d.kthvalue((d.size(0) + 1) / 2, 0).Item1;
                var closest = (d - median).abs().topk((int)d.size(0) - 2 * f, 0, largest: false).Item2;
                return d.gather(0, closest).mean([0]);
            });
            Assert.True(actual.allclose(expected, rtol: 1e-6, atol: 1e-6 * expected.abs().max().item<float>()));
        }
    }

    [Theory]
    [InlineData("median")]
    [InlineData("trimmed-mean")]
    [InlineData("bulyan")]
    public void Tiles_of_one_row_give_the_same_result_as_cache_sized_tiles(string name)
    {
        // One row of 16 lanes for each of 12 updates: 768 bytes, the least a rule can hold.
        var small = RobustRules.CreateCoordinateWise(name, f: 2, maxDenseBytes: 12 * 16 * 4);
        var large = RobustRules.CreateCoordinateWise(name, f: 2);
        var (a, _) = small.Aggregate(_updates);
        var (b, _) = large.Aggregate(_updates);
        using (a)
        using (b)
            foreach (var m in a.Modules)
                {
                    using var x = m.DenseDelta();
                    using var y = b[m.Name].DenseDelta();
                    Assert.True(Same(x, y));
                }
    }

    [Fact]
    public void Rules_refuse_a_limit_below_one_row_of_sixteen_values_per_update()
    {
        var e = Assert.Throws<RobustRuleException>(() => new CoordinateMedian(maxDenseBytes: 12 * 16 * 4 - 1).Aggregate(_updates));
        Assert.Contains("above the 767-byte limit", e.Message);
    }

    [Fact]
    public void Sorting_networks_sort_every_count_and_the_pruned_ones_their_wanted_positions()
    {
        var random = new Random(5);
        for (int n = 1; n <= 130; n++)
        {
            var values = Enumerable.Range(0, n).Select(_ => Vector512.Create(Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray())).ToArray();
            var sorted = Enumerable.Range(0, 16).Select(l => values.Select(v => v[l]).Order().ToArray()).ToArray();
            foreach (var (first, end) in new[] { (0, n), ((n - 1) / 2, (n - 1) / 2 + 1), (n / 4, n - n / 4) })
            {
                var work = values.ToArray();
                SortingNetwork.For(n, first, end).Apply(work);
                for (int p = first; p < end; p++)
                    for (int l = 0; l < 16; l++)
                        Assert.Equal(sorted[l][p], work[p][l]);
            }
        }
    }
}
