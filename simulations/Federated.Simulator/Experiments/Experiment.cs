using System.Text.Json.Serialization;

namespace Federated.Simulator.Experiments;

/// <summary>
/// One checked-in experiment (simulations/experiments/*.json): a base run, optional named variants and conditions, and a
/// sweep over any setting. Runs = variants x conditions x the cartesian product of the sweep values (x seeds).
/// </summary>
public sealed record Experiment
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public RunSettings Settings { get; init; } = new();
    /// <summary>Named overrides of <see cref="Settings"/>, e.g. {"name": "fedit-r16", "strategy": "fedit", "ranks": [16]}.</summary>
    public IReadOnlyList<Dictionary<string, System.Text.Json.JsonElement>> Variants { get; init; } = [];
    /// <summary>Setting name -> values, e.g. {"localSteps": [10, 30]}.</summary>
    public Dictionary<string, System.Text.Json.JsonElement[]> Sweep { get; init; } = new();
    /// <summary>
    /// Named overrides crossed with every variant, e.g. the attack settings of a robustness study: {"name": "alie 30%",
    /// "attack": {"type": "alie", "fraction": 0.3}}. Runs = variants x conditions x sweep points x seeds; tables add one
    /// column per condition.
    /// </summary>
    public IReadOnlyList<Dictionary<string, System.Text.Json.JsonElement>> Conditions { get; init; } = [];
    /// <summary>
    /// The variant every other one is compared with: tables give each method's paired 95% interval of (method - reference)
    /// over the seeds both ran, at the same sweep point.
    /// </summary>
    public string? Reference { get; init; }
}

/// <summary>Everything one simulation run needs. Defaults make a small, quick run.</summary>
public sealed record RunSettings
{
    public long Seed { get; init; } = 1;
    /// <summary>Federated (default), or one of the two bounds a federated result is read against: centralised or local-only training.</summary>
    public TrainingMode Mode { get; init; } = TrainingMode.Federated;
    /// <summary>Several seeds: every run is repeated once per seed (each with its own seed) and tables report mean ± sd; overrides <see cref="Seed"/>.</summary>
    public long[]? Seeds { get; init; }
    public EvaluationSettings Evaluation { get; init; } = new();
    public ModelSettings Model { get; init; } = new();
    public DataSettings Data { get; init; } = new();
    public int Clients { get; init; } = 8;
    public int ClientsPerRound { get; init; } = 8;
    /// <summary>Accepted updates a round needs; default half the clients per round (rounded up).</summary>
    public int? Quorum { get; init; }
    public int Rounds { get; init; } = 5;
    public int LocalSteps { get; init; } = 20;
    public int BatchSize { get; init; } = 8;
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Client i trains at Ranks[i mod count] (as if its GPU memory allowed that rank).</summary>
    public int[] Ranks { get; init; } = [8];
    /// <summary>lora_alpha = AlphaPerRank * rank.</summary>
    public double AlphaPerRank { get; init; } = 2;
    public string[] TargetModules { get; init; } = ["q_proj", "v_proj"];
    public string Strategy { get; init; } = "flora";
    public string? Rule { get; init; }
    public string? PreAggregator { get; init; }
    public int ByzantineCount { get; init; }
    public double? NormCap { get; init; }
    /// <summary>flexlora: the rank the exact sum is truncated to (default: the largest client rank).</summary>
    public int? OutputRank { get; init; }
    /// <summary>flora, flexlora: each module of a round's global truncated to the smallest rank keeping this fraction of its energy (FLoRIST); null: exact.</summary>
    public double? GlobalEnergy { get; init; }
    public AttackSettings? Attack { get; init; }
    /// <summary>Probability that a selected client never answers in a round.</summary>
    public double DropoutRate { get; init; }
    /// <summary>Probability that a selected client's update arrives after the round closed.</summary>
    public double StragglerRate { get; init; }
    /// <summary>Virtual clients training at once (each on its own replica of the frozen base).</summary>
    public int Parallelism { get; init; } = 2;
}

public sealed record ModelSettings
{
    /// <summary>tiny or small (ignored when <see cref="Directory"/> is set).</summary>
    public string Preset { get; init; } = "tiny";
    /// <summary>An HF model directory to start from instead of a preset; a relative path is relative to the experiment file.</summary>
    public string? Directory { get; init; }
    /// <summary>Full-parameter steps on the pretraining corpus before federated LoRA starts (cached across runs).</summary>
    public int PretrainSteps { get; init; } = 300;
    public int ContextLength { get; init; } = 96;
}

/// <summary>
/// How the clients' data is trained on. <see cref="Centralised"/>: one client holds the union of every client's training
/// data and takes as many steps as the whole federation (rounds x clients per round x local steps), at the largest rank,
/// with no aggregation to lose anything: the upper bound. <see cref="Local"/>: every client trains alone on its own data
/// for the same rounds and steps and never shares: the lower bound for what federation is for (losses are the mean over
/// the clients' own models; no task metric, which would cost one evaluation per client).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<TrainingMode>))]
public enum TrainingMode { Federated, Centralised, Local }

[JsonConverter(typeof(JsonStringEnumConverter<DataSource>))]
public enum DataSource { WordNet, Fortunes, Jsonl }

[JsonConverter(typeof(JsonStringEnumConverter<PartitionKind>))]
public enum PartitionKind { Natural, Dirichlet, Iid }

public sealed record DataSettings
{
    public DataSource Source { get; init; } = DataSource.WordNet;
    /// <summary>Jsonl: a file of Alpaca/Dolly records with an optional "domain" field.</summary>
    public string? Path { get; init; }
    public PartitionKind Partition { get; init; } = PartitionKind.Natural;
    /// <summary>Dirichlet concentration: small is skewed (non-IID), large near-uniform.</summary>
    public double Alpha { get; init; } = 0.5;
    /// <summary>Domains to use (null: all); keeps experiments small and comparable.</summary>
    public string[]? Domains { get; init; }
    public int MaxExamplesPerClient { get; init; } = 300;
    public int EvalExamplesPerClient { get; init; } = 40;
    public int GlobalEvalExamples { get; init; } = 200;
}

/// <summary>
/// How the federation's model is evaluated: the held-out losses, and the task metric (WordNet definition multiple choice on
/// the global held-out synsets, both directions). Both are computed for the base model (round 0) and the final round, and
/// every <see cref="LossEveryRounds"/> / <see cref="TaskEveryRounds"/> rounds between.
/// </summary>
public sealed record EvaluationSettings
{
    /// <summary>Held-out synsets sampled for the task (each gives one item per direction); 0 turns the task metric off.</summary>
    public int TaskItems { get; init; } = 100;
    /// <summary>Also evaluate the task every this many rounds; 0: base and final round only.</summary>
    public int TaskEveryRounds { get; init; }
    /// <summary>
    /// Also measure the held-out losses every this many rounds (default 1: every round); the base model and the final round
    /// are always measured. Long robustness runs save most of their evaluation time with 5.
    /// </summary>
    public int LossEveryRounds { get; init; } = 1;
    /// <summary>Sequences per forward pass when evaluating (held-out loss and task options); evaluation uses every core.</summary>
    public int BatchSize { get; init; } = 32;
}

/// <summary>A fraction of the clients are Byzantine and upload <see cref="Type"/>'s crafted update instead of their own.</summary>
public sealed record AttackSettings
{
    public double Fraction { get; init; } = 0.2;
    public string Type { get; init; } = "sign-flip";
    public double? Strength { get; init; }
}
