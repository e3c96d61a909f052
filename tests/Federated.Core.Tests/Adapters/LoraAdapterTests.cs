using Federated.Core.Adapters;
using Federated.Core.Formats;
using static TorchSharp.torch;

namespace Federated.Core.Tests.Adapters;

public sealed class LoraAdapterTests
{
    static readonly IReadOnlyList<ModuleShape> Shapes = ModuleShape.LlamaFamily(hidden: 32, layers: 2, targets: ["q_proj", "v_proj"], kvDim: 16);

    [Fact]
    public void An_adapter_is_the_same_as_its_copy_and_both_are_the_same_payload()
    {
        using var adapter = RandomAdapters.Create(Shapes, rank: 4, alpha: 8, seed: 1, bStd: 0.1);
        using var copy = adapter.Clone();

        Assert.True(adapter.SameAs(copy));
        Assert.Equal(AdapterPayload.ToBytes(adapter), AdapterPayload.ToBytes(copy));
    }

    [Fact]
    public void One_changed_value_alpha_name_or_base_model_makes_another_adapter()
    {
        using var adapter = RandomAdapters.Create(Shapes, rank: 4, alpha: 8, seed: 1, bStd: 0.1, baseModel: "base");
        using var value = adapter.Clone();
        value.Modules[^1].B[0, 0] = value.Modules[^1].B[0, 0] + 1e-6f;
        using var alpha = new LoraAdapter(adapter.Modules.Select(m => m.With(m.A.clone(), m.B.clone(), 9)), "base");
        using var name = new LoraAdapter(adapter.Modules.Select((m, i) => new LoraModule(i == 0 ? "model.other" : m.Name, m.A.clone(), m.B.clone(), m.Alpha)), "base");
        using var baseModel = new LoraAdapter(adapter.Modules.Select(m => m.Clone()), "another base");

        Assert.All(new[] { value, alpha, name, baseModel }, other => Assert.False(adapter.SameAs(other)));
    }
}
