using Federated.Agent.State;
using Federated.Agent.Tests.Hostile;
using Federated.Agent.Trust;
using Federated.Core.Adapters;
using Federated.Protocol.V1;

namespace Federated.Agent.Tests.Unit;

/// <summary>The checks every value from the coordinator passes: references, task fields, adapter headers.</summary>
public sealed class CoordinatorInputTests : IDisposable
{
    const long Max = 1L << 20;
    static readonly string Sha = new string('0', 62) + "af";
    static readonly IReadOnlyList<ModuleShape> Local = HostilePayloads.TinyLayers("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-input-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("../../x")]
    [InlineData("/tmp/abs")]
    [InlineData("")]
    [InlineData("00000000000000000000000000000000000000000000000000000000000000AF")] // uppercase
    [InlineData("000000000000000000000000000000000000000000000000000000000000af")] // 62 digits
    [InlineData("0000000000000000000000000000000000000000000000000000000000000af0a")] // 65
    [InlineData("000000000000000000000000000000000000000000000000000000000000/../")]
    [InlineData("00000000000000000000000000000000000000000000000000000000000000g0")]
    public void A_reference_that_is_not_64_lowercase_hex_digits_is_refused_and_never_becomes_a_path(string sha)
    {
        var e = Assert.Throws<CoordinatorInputException>(() => AdapterReference.From(new AdapterRef { Sha256 = sha, Size = 10 }, "init_adapter", Max));
        Assert.StartsWith("init_adapter: sha256 '", e.Message);
        Assert.Throws<ArgumentException>(() => new AgentStateStore(_dir).AdapterPath(sha));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(Max + 1)]
    [InlineData(long.MaxValue)]
    public void A_size_outside_one_to_the_maximum_adapter_size_is_refused(long size)
    {
        var e = Assert.Throws<CoordinatorInputException>(() => AdapterReference.From(new AdapterRef { Sha256 = Sha, Size = size }, "global_adapter", Max));
        Assert.Contains($"declares {size:N0} bytes; an adapter is 1 to {Max:N0} bytes (Agent:MaxAdapterBytes)", e.Message);
    }

    [Fact]
    public void A_well_formed_reference_is_accepted_and_names_a_file_inside_the_state_directory()
    {
        var adapter = AdapterReference.From(new AdapterRef { Sha256 = Sha, Size = Max }, "global_adapter", Max);
        Assert.Equal((Sha, Max), (adapter.Sha256, adapter.Size));
        var store = new AgentStateStore(_dir);
        Assert.Equal(Path.Combine(store.Directory, "adapters", Sha + ".safetensors"), store.AdapterPath(adapter.Sha256));
        Assert.Throws<CoordinatorInputException>(() => AdapterReference.From(null, "init_adapter", Max));
    }

    [Fact]
    public void A_task_within_bounds_is_accepted_with_its_references_and_the_local_target_layers()
    {
        var task = Task();
        task.GlobalAdapters.Add(new RoundAdapter { Round = 1, Adapter = new AdapterRef { Sha256 = Sha, Size = 100 } });
        task.InitAdapter = new AdapterRef { Sha256 = Sha, Size = 100 };
        var accepted = TrainingTaskCheck.Accept(task, "f", Max, Local);
        Assert.Equal(Sha, Assert.Single(accepted.History).Adapter.Sha256);
        Assert.Equal(Sha, accepted.Init!.Sha256);
        Assert.Equal(4, accepted.Layers.Count); // q_proj and v_proj of two layers
        Assert.Equal(32, accepted.Layers.Single(l => l.Name == "model.layers.1.self_attn.v_proj").OutFeatures);
    }

    [Fact]
    public void The_deprecated_global_adapter_field_is_never_read()
    {
        var task = Task();
#pragma warning disable CS0612 // what an old coordinator, or a hostile one, may still send
        task.GlobalAdapter = new AdapterRef { Sha256 = "/etc/passwd", Size = -1 };
#pragma warning restore CS0612
        var accepted = TrainingTaskCheck.Accept(task, "f", Max, Local);
        Assert.Empty(accepted.History); // the history is global_adapters alone
    }

    public static TheoryData<string, Action<TrainingTask>, string> Refusals => new()
    {
        { "federation", t => t.FederationId = "other", "it is for federation 'other', but this agent enrolled in 'f'" },
        { "round", t => t.Round = -1, "its round is negative" },
        { "rank", t => t.Rank = 1_000_000_000, "rank 1,000,000,000 is outside 1..64 (the largest dimension of the local target layers)" },
        { "zero rank", t => t.Rank = 0, "rank 0 is outside 1..64" },
        { "alpha", t => t.LoraAlpha = double.PositiveInfinity, "is not a finite number in (0, 1000000]" },
        { "steps", t => t.Training.LocalSteps = 0, "training.local_steps 0 is outside 1..1,000,000" },
        { "batch", t => t.Training.BatchSize = 1_000_000, "training.batch_size 1,000,000 is outside 1..4,096" },
        { "learning rate", t => t.Training.LearningRate = -0.1, "training.learning_rate -0.1 is not a finite number in (0, 10]" },
        { "dropout", t => t.Training.LoraDropout = 1, "training.lora_dropout 1 is not in [0, 1)" },
        { "no plan", t => t.Training = null, "training is missing" },
        { "base model", t => t.BaseModel = new string('m', 1000), "base_model is 1,000 characters long, over the 256 allowed" },
        { "newline", t => t.Strategy = "flora\nERROR forged", "strategy holds control characters ('flora\\nERROR forged')" },
        { "unknown module", t => t.TargetModules.Add("lm_head"), "target module 'lm_head' is not a layer of the local model" },
        { "no module", t => t.TargetModules.Clear(), "target_modules lists 0 modules; 1 to 64 are allowed" },
        { "twice", t => t.TargetModules.Add("q_proj"), "target_modules names a module twice" },
        { "history", t => t.GlobalAdapters.Add(Enumerable.Repeat(new RoundAdapter { Round = 1, Adapter = new AdapterRef { Sha256 = Sha, Size = 1 } }, 10_001)),
            "global_adapters lists 10,001 history deltas, over the 10,000 allowed" },
        { "history path", t => t.GlobalAdapters.Add(new RoundAdapter { Round = 1, Adapter = new AdapterRef { Sha256 = "../x", Size = 1 } }),
            "global_adapters[0]: sha256 '../x' is not a SHA-256" },
        { "history missing", t => t.GlobalAdapters.Add(new RoundAdapter { Round = 1 }), "global_adapters[0] is missing" },
        { "init size", t => t.InitAdapter = new AdapterRef { Sha256 = Sha, Size = Max + 1 }, "init_adapter: adapter 000000000000 declares" },
        { "frozen", t => t.Frozen = (FrozenFactors)7, "frozen is 7, not a known value" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void A_task_field_out_of_bounds_is_refused_with_a_message_that_names_it(string _, Action<TrainingTask> spoil, string expected)
    {
        var task = Task(round: 3);
        spoil(task);
        var e = Assert.Throws<CoordinatorInputException>(() => TrainingTaskCheck.Accept(task, "f", Max, Local));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Previews_escape_control_characters_and_shorten_long_values()
    {
        Assert.Equal("a\\nb\\u001b[31m", CoordinatorText.Preview("a\nb\u001b[31m"));
        Assert.Equal(new string('x', 64) + "... (1,000 characters)", CoordinatorText.Preview(new string('x', 1000)));
    }

    [Fact]
    public void An_adapter_that_fits_the_local_layers_passes_the_header_check()
    {
        var layers = HostilePayloads.TinyLayers("q_proj", "v_proj");
        var (path, adapter) = Write(HostilePayloads.Plain(layers));
        AdapterFit.Check(path, adapter, "history delta 0", HostilePayloads.BaseModel, layers);
    }

    [Fact]
    public void An_adapter_whose_shapes_differ_from_the_local_layers_is_refused_from_its_header()
    {
        var (path, adapter) = Write(HostilePayloads.WrongShapes());
        var e = Assert.Throws<CoordinatorInputException>(() =>
            AdapterFit.Check(path, adapter, "history delta 0", HostilePayloads.BaseModel, HostilePayloads.TinyLayers("q_proj", "v_proj")));
        Assert.Contains("does not fit the local model: module 'model.layers.0.self_attn.q_proj' is 96x48; the base model's layer is 64x64", e.Message);
    }

    [Fact]
    public void An_adapter_for_other_layers_or_another_base_model_is_refused()
    {
        var (path, adapter) = Write(HostilePayloads.Plain(HostilePayloads.TinyLayers("k_proj")));
        var layers = HostilePayloads.TinyLayers("q_proj");
        Assert.Contains("the adapter adapts k_proj", Assert.Throws<CoordinatorInputException>(() =>
            AdapterFit.Check(path, adapter, "init adapter", HostilePayloads.BaseModel, layers)).Message);
        Assert.Contains("trained on 'tiny-llama', the federation's base model is 'other'", Assert.Throws<CoordinatorInputException>(() =>
            AdapterFit.Check(path, adapter, "init adapter", "other", HostilePayloads.TinyLayers("k_proj"))).Message);
    }

    [Fact]
    public void A_compressed_payload_is_refused_from_its_metadata_however_large_its_declared_shapes()
    {
        var (path, adapter) = Write(HostilePayloads.CompressedBomb());
        var e = Assert.Throws<CoordinatorInputException>(() =>
            AdapterFit.Check(path, adapter, "history delta 0", HostilePayloads.BaseModel, HostilePayloads.TinyLayers("q_proj")));
        Assert.Contains("is a compressed (topk) payload", e.Message);
    }

    [Fact]
    public void A_payload_that_is_not_safetensors_is_refused()
    {
        var (path, adapter) = Write(new byte[100]);
        Assert.Contains("is refused", Assert.Throws<CoordinatorInputException>(() =>
            AdapterFit.Check(path, adapter, "history delta 0", HostilePayloads.BaseModel, HostilePayloads.TinyLayers("q_proj"))).Message);
    }

    (string Path, AdapterReference Adapter) Write(byte[] payload)
    {
        var adapter = AdapterReference.From(HostilePayloads.RefOf(payload), "test", long.MaxValue);
        string path = Path.Combine(_dir, adapter.Sha256);
        File.WriteAllBytes(path, payload);
        return (path, adapter);
    }

    static TrainingTask Task(int round = 1) => new()
    {
        FederationId = "f", Round = round, BaseModel = "tiny-llama", TargetModules = { "q_proj", "v_proj" }, Rank = 2, LoraAlpha = 4,
        Training = new TrainingPlan { LocalSteps = 1, BatchSize = 2, LearningRate = 0.01 }, Strategy = "flora",
    };
}
