namespace Federated.Contracts;

/// <summary>What an operator fixes when creating a federation. Validated by the federation grain on creation.</summary>
/// <param name="BaseModel">Identity of the frozen base model every participant holds (e.g. an HF repo id or a path).</param>
/// <param name="TargetModules">PEFT target-module names the adapters cover (q_proj, v_proj, ...).</param>
/// <param name="Quorum">Accepted updates a round needs at its deadline; fewer and the round fails.</param>
/// <param name="RoundDeadline">How long a round stays open after its clients are selected.</param>
/// <param name="ClientTimeout">A client not heard from for this long is not selected.</param>
/// <param name="MinReputation">Clients whose reputation fell below this (see <see cref="ClientView.Reputation"/>) are not selected.</param>
/// <param name="MaxConsecutiveFailures">The federation fails after this many failed rounds in a row.</param>
/// <param name="Seed">Seeds client selection and the shared initial adapter, so a federation is reproducible.</param>
/// <param name="Architecture">
/// The base model's shape (from its config.json): pins every target module's dimensions, so uploads are checked against
/// the base, never against each other (and gives the shapes of the adapter fedit, ffa and hetlora seed). Required.
/// </param>
/// <param name="Compaction">Re-factor the merged history every few rounds, so what late joiners download stays bounded; null: never.</param>
[GenerateSerializer, Immutable, Alias("fl.FederationConfig")]
public sealed record FederationConfig(
    [property: Id(0)] string BaseModel,
    [property: Id(1)] string[] TargetModules,
    [property: Id(2)] RankPolicy RankPolicy,
    [property: Id(3)] AggregationSettings Aggregation,
    [property: Id(4)] TrainingPlan Training,
    [property: Id(5)] int Rounds,
    [property: Id(6)] int ClientsPerRound,
    [property: Id(7)] int Quorum,
    [property: Id(8)] TimeSpan RoundDeadline,
    [property: Id(9)] TimeSpan ClientTimeout,
    [property: Id(10)] double MinReputation = 0.25,
    [property: Id(11)] int MaxConsecutiveFailures = 3,
    [property: Id(12)] long Seed = 0,
    [property: Id(13)] ModelArchitecture? Architecture = null,
    [property: Id(14)] HistoryCompaction? Compaction = null)
{
    /// <summary>Sensible defaults for a base model of <paramref name="architecture"/>: q/v LoRA, FLoRA stacking, 10 rounds of 10 clients, quorum 5.</summary>
    public static FederationConfig Default(string baseModel, ModelArchitecture? architecture) => new(
        baseModel, ["q_proj", "v_proj"], RankPolicy.Default, AggregationSettings.Default, TrainingPlan.Default,
        Rounds: 10, ClientsPerRound: 10, Quorum: 5, RoundDeadline: TimeSpan.FromMinutes(30), ClientTimeout: TimeSpan.FromMinutes(5),
        Architecture: architecture);
}

/// <summary>How a client's LoRA rank follows from its hardware: the highest tier its GPU memory reaches, else <paramref name="CpuRank"/>.</summary>
/// <param name="AlphaPerRank">lora_alpha = AlphaPerRank * rank, so the scale alpha / r is the same at every rank.</param>
[GenerateSerializer, Immutable, Alias("fl.RankPolicy")]
public sealed record RankPolicy(
    [property: Id(0)] int CpuRank,
    [property: Id(1)] RankTier[] Tiers,
    [property: Id(2)] double AlphaPerRank = 2)
{
    public static RankPolicy Default { get; } = new(4, [new(8L << 30, 8), new(16L << 30, 16), new(24L << 30, 32), new(48L << 30, 64)]);

    /// <summary>Every client trains at <paramref name="rank"/>, whatever its hardware (the FedIT setting).</summary>
    public static RankPolicy Fixed(int rank, double alphaPerRank = 2) => new(rank, [], alphaPerRank);

    public int RankFor(ClientCapabilities capabilities)
    {
        int rank = CpuRank;
        foreach (var tier in Tiers)
            if (capabilities.GpuMemoryBytes >= tier.MinGpuMemoryBytes && tier.Rank > rank)
                rank = tier.Rank;
        return rank;
    }

    public double AlphaFor(int rank) => AlphaPerRank * rank;

    /// <summary>Every rank a client can be assigned, ascending.</summary>
    public int[] Ranks() => Tiers.Select(t => t.Rank).Append(CpuRank).Distinct().Order().ToArray();
}

[GenerateSerializer, Immutable, Alias("fl.RankTier")]
public sealed record RankTier([property: Id(0)] long MinGpuMemoryBytes, [property: Id(1)] int Rank);

/// <summary>How a round's updates combine; names as in <c>fed aggregate</c>.</summary>
/// <param name="Strategy">fedit, zero-padding, hetlora, flora, flexlora or ffa.</param>
/// <param name="Rule">A robust rule (krum, geometric-median, median, ...) or null for the plain weighted mean.</param>
/// <param name="PreAggregator">bucketing or nnm before a Gram-based rule, or null.</param>
/// <param name="ByzantineCount">f: the assumed number of Byzantine clients per round.</param>
/// <param name="Tau">Clipping radius for centered-clipping / norm-bound (null: adaptive, the median).</param>
/// <param name="OutputRank">Target rank of flexlora in one-shot aggregation (<c>fed aggregate</c>); federations keep flexlora's exact sum.</param>
/// <param name="NormCap">Updates with ||dW||_F above this are rejected.</param>
/// <param name="MaxExampleCount">A client's claimed example count counts at most this much (null: no cap). Claims are unverifiable.</param>
/// <param name="Weighting">How clients are weighted; null: <see cref="ClientWeighting.Equal"/> under a robust rule, else by examples.</param>
/// <param name="GlobalEnergy">
/// flora, flexlora: truncate each module of the round's stacked global by SVD to the smallest rank keeping this fraction,
/// in (0, 1], of its energy sum sigma_i^2 (FLoRIST); the largest relative error of a module is the round view's
/// factoringError. Null: exact (a module whose stacked rank exceeds min(d_out, d_in) is still written exactly at that rank).
/// </param>
[GenerateSerializer, Immutable, Alias("fl.AggregationSettings")]
public sealed record AggregationSettings(
    [property: Id(0)] string Strategy = "flora",
    [property: Id(1)] string? Rule = null,
    [property: Id(2)] string? PreAggregator = null,
    [property: Id(3)] int ByzantineCount = 0,
    [property: Id(4)] double? Tau = null,
    [property: Id(5)] int? OutputRank = null,
    [property: Id(6)] double? NormCap = null,
    [property: Id(7)] long? MaxExampleCount = null,
    [property: Id(8)] ClientWeighting? Weighting = null,
    [property: Id(9)] double? GlobalEnergy = null)
{
    public static AggregationSettings Default { get; } = new();

    /// <summary>
    /// The weighting in force. A robust rule's premise is one client, one vote: a client claiming a million examples
    /// must not outweigh the rest, so unless the operator says otherwise, robust rounds weight clients equally.
    /// </summary>
    public ClientWeighting EffectiveWeighting => Weighting ?? (Rule is null ? ClientWeighting.Examples : ClientWeighting.Equal);

    /// <summary>What a client's claimed example count counts for in its weight p_k: 1 each when equal, else the claim up to the cap.</summary>
    public long CountedExamples(long claimed) =>
        EffectiveWeighting == ClientWeighting.Equal ? 1 : Math.Clamp(claimed, 1, MaxExampleCount ?? long.MaxValue);
}

/// <summary>How a round weights its clients' updates (p_k, before a robust rule's coefficients).</summary>
public enum ClientWeighting
{
    /// <summary>By claimed example counts (FedAvg), capped by <see cref="AggregationSettings.MaxExampleCount"/>.</summary>
    Examples,

    /// <summary>Every client alike: one client, one vote.</summary>
    Equal,
}

/// <summary>Local training hyper-parameters handed to agents with their task.</summary>
[GenerateSerializer, Immutable, Alias("fl.TrainingPlan")]
public sealed record TrainingPlan(
    [property: Id(0)] int LocalSteps = 50,
    [property: Id(1)] int BatchSize = 8,
    [property: Id(2)] double LearningRate = 2e-4,
    [property: Id(3)] double LoraDropout = 0)
{
    public static TrainingPlan Default { get; } = new();
}

/// <summary>
/// The shape of a Llama-family base model (Llama, Qwen2, Mistral), with HF config.json's field names: what the
/// dimensions of every LoRA target module follow from.
/// </summary>
/// <param name="HeadDim">config.json's head_dim when it is not hidden_size / num_attention_heads.</param>
[GenerateSerializer, Immutable, Alias("fl.ModelArchitecture")]
public sealed record ModelArchitecture(
    [property: Id(0)] int HiddenSize,
    [property: Id(1)] int NumHiddenLayers,
    [property: Id(2)] int NumAttentionHeads,
    [property: Id(3)] int NumKeyValueHeads,
    [property: Id(4)] int IntermediateSize,
    [property: Id(5)] int? HeadDim = null)
{
    /// <summary>Output width of k_proj and v_proj (grouped-query attention).</summary>
    public int KeyValueDim => NumKeyValueHeads * (HeadDim ?? (NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0));
}

/// <summary>
/// Every <paramref name="EveryRounds"/> rounds the merged history is replaced by one delta: the truncated SVD of its exact
/// sum at <paramref name="Rank"/>, or at the smallest rank (of those vLLM allows) within <paramref name="MaxError"/>
/// relative Frobenius error per module. The error is recorded in the round's view.
/// </summary>
[GenerateSerializer, Immutable, Alias("fl.HistoryCompaction")]
public sealed record HistoryCompaction(
    [property: Id(0)] int EveryRounds,
    [property: Id(1)] int? Rank = null,
    [property: Id(2)] double? MaxError = null);
