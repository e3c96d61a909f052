using Federated.Core.Adapters;
using Federated.Core.Aggregation;

namespace Federated.Core.Tests.Aggregation;

public class LoraMergeTests
{
    [Fact]
    public void Merging_a_stack_into_W_equals_applying_it_as_a_lora_branch()
    {
        using var data = new MixedRankUpdates(51, [4, 8, 2]);
        using var global = new FloraStacking().Aggregate(data.Updates, data.Coefficients);
        var shape = MixedRankUpdates.Shapes[1]; // k_proj: 48 -> 16, not square
        var m = global[shape.Name];
        using var w0 = randn(shape.OutFeatures, shape.InFeatures, generator: new Generator(5));
        using var x = randn(7, shape.InFeatures, generator: new Generator(6));

        // y = W0 x + s B (A x), the LoRA branch as PEFT applies it.
        using var branch = nn.functional.linear(x, w0) + nn.functional.linear(nn.functional.linear(x, m.A), m.B) * m.Scale;
        using var merged = w0.clone();
        LoraMerge.MergeInto(merged, m);
        using var y = nn.functional.linear(x, merged);
        TensorAssert.Close(y, branch, 1e-5);
    }

    [Fact]
    public void Merge_by_hf_weight_names_updates_every_adapted_layer()
    {
        using var adapter = RandomAdapters.Create(MixedRankUpdates.Shapes, 4, 8, seed: 52);
        var weights = MixedRankUpdates.Shapes.ToDictionary(s => s.Name + ".weight", s => zeros(s.OutFeatures, s.InFeatures));
        LoraMerge.MergeInto(weights, adapter);
        foreach (var m in adapter.Modules)
        {
            using var expected = m.DenseDelta();
            TensorAssert.Close(weights[m.Name + ".weight"], expected, 1e-6);
        }
    }

    [Fact]
    public void Merge_rejects_a_base_weight_of_the_wrong_shape()
    {
        using var adapter = RandomAdapters.Create([new ModuleShape("m.q_proj", 8, 4)], 2, 4, seed: 53);
        using var w = zeros(8, 4);
        var e = Assert.Throws<AdapterShapeException>(() => LoraMerge.MergeInto(w, adapter.Modules[0]));
        Assert.Contains("4x8", e.Message);
    }
}
