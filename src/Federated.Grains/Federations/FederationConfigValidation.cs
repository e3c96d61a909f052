using Federated.Contracts;
using Federated.Core.Federation;
using Federated.Core.Robust;

namespace Federated.Grains.Federations;

/// <summary>Everything wrong with a federation config, found before any round runs on it.</summary>
static class FederationConfigValidation
{
    /// <exception cref="FederationException">InvalidArgument, naming each offending field.</exception>
    public static void Validate(string id, FederationConfig c)
    {
        var errors = new List<string>();
        void Require(bool ok, string message) { if (!ok) errors.Add(message); }

        Require(GrainKeys.IsValidId(id), $"id '{id}': use 1 to 64 letters, digits, '-', '_' or '.'");
        Require(!string.IsNullOrWhiteSpace(c.BaseModel), "baseModel: required");
        Require(c.TargetModules is { Length: > 0 } && c.TargetModules.All(m => !string.IsNullOrWhiteSpace(m)), "targetModules: at least one module name, none empty");
        if (c.RankPolicy is null) errors.Add("rankPolicy: required");
        else
        {
            Require(c.RankPolicy.CpuRank >= 1, $"rankPolicy.cpuRank: must be at least 1, not {c.RankPolicy.CpuRank}");
            Require(c.RankPolicy.Tiers.All(t => t.Rank >= 1 && t.MinGpuMemoryBytes >= 0), "rankPolicy.tiers: ranks must be at least 1 and memory thresholds non-negative");
            Require(c.RankPolicy.AlphaPerRank > 0, $"rankPolicy.alphaPerRank: must be positive, not {c.RankPolicy.AlphaPerRank}");
        }
        if (c.Aggregation is null) errors.Add("aggregation: required");
        else ValidateAggregation(c, errors);
        if (c.Training is null) errors.Add("training: required");
        else
        {
            Require(c.Training.LocalSteps >= 1, $"training.localSteps: must be at least 1, not {c.Training.LocalSteps}");
            Require(c.Training.BatchSize >= 1, $"training.batchSize: must be at least 1, not {c.Training.BatchSize}");
            Require(c.Training.LearningRate > 0, $"training.learningRate: must be positive, not {c.Training.LearningRate}");
            Require(c.Training.LoraDropout is >= 0 and < 1, $"training.loraDropout: must be in [0, 1), not {c.Training.LoraDropout}");
        }
        Require(c.Rounds >= 1, $"rounds: must be at least 1, not {c.Rounds}");
        Require(c.ClientsPerRound >= 1, $"clientsPerRound: must be at least 1, not {c.ClientsPerRound}");
        Require(c.Quorum >= 1 && c.Quorum <= c.ClientsPerRound, $"quorum: must be between 1 and clientsPerRound ({c.ClientsPerRound}), not {c.Quorum}");
        Require(c.RoundDeadline > TimeSpan.Zero, $"roundDeadline: must be positive, not {c.RoundDeadline}");
        Require(c.ClientTimeout > TimeSpan.Zero, $"clientTimeout: must be positive, not {c.ClientTimeout}");
        Require(c.MinReputation is >= 0 and < 1, $"minReputation: must be in [0, 1), not {c.MinReputation}");
        Require(c.MaxConsecutiveFailures >= 1, $"maxConsecutiveFailures: must be at least 1, not {c.MaxConsecutiveFailures}");
        if (c.Architecture is { } arch) ValidateArchitecture(arch, c, errors);
        else errors.Add("architecture: required: the base model's hiddenSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads and " +
                        "intermediateSize (from its config.json; fed federation create --base-model-dir reads them), which pin the shape every upload is checked against");
        if (c.Compaction is { } k)
        {
            Require(k.EveryRounds >= 1, $"compaction.everyRounds: must be at least 1, not {k.EveryRounds}");
            Require(k.Rank is null or >= 1, $"compaction.rank: must be at least 1, not {k.Rank}");
            Require(k.MaxError is null or (> 0 and < 1), $"compaction.maxError: must be in (0, 1), not {k.MaxError}");
            Require(k.Rank is null || k.MaxError is null, "compaction: give rank or maxError, not both");
        }

        if (errors.Count > 0)
            throw new FederationException(FederationError.InvalidArgument, $"federation '{id}': " + string.Join("; ", errors));
    }

    static void ValidateAggregation(FederationConfig c, List<string> errors)
    {
        var a = c.Aggregation;
        if (!FederatedStrategies.TryGet(a.Strategy ?? "", out var strategy))
            errors.Add($"aggregation.strategy: '{a.Strategy}' is not one of {string.Join(", ", FederatedStrategies.Names)}");
        var rules = RobustRules.FederationNames;
        if (a.Rule is not null && RobustRules.NeedsRootUpdate(a.Rule))
            errors.Add($"aggregation.rule: {a.Rule} needs a root data set on the coordinator, which federations do not have yet");
        else if (a.Rule is not null && !rules.Contains(a.Rule))
            errors.Add($"aggregation.rule: '{a.Rule}' is not one of {string.Join(", ", rules)}");
        else if (RobustRules.MinimumClients(a.Rule, a.ByzantineCount, a.PreAggregator) is var minimum && c.Quorum < minimum)
            errors.Add($"quorum: {a.Rule}{(a.PreAggregator is { } pre ? $" behind {pre}" : "")} with byzantineCount {a.ByzantineCount} needs at least {minimum} updates a round, so a quorum of at least {minimum}, not {c.Quorum}");
        if (a.PreAggregator is not null && !RobustRules.PreAggregatorNames.Contains(a.PreAggregator))
            errors.Add($"aggregation.preAggregator: '{a.PreAggregator}' is not one of {string.Join(", ", RobustRules.PreAggregatorNames)}");
        else if (a.PreAggregator is not null && !RobustRules.TakesPreAggregator(a.Rule))
            errors.Add("aggregation.preAggregator: needs a Gram-based rule (krum, multi-krum, geometric-median, centered-clipping, norm-bound, flag)");
        if (a.ByzantineCount < 0) errors.Add($"aggregation.byzantineCount: must not be negative, not {a.ByzantineCount}");
        if (a.Tau is { } tau && !(tau > 0)) errors.Add($"aggregation.tau: must be positive, not {tau}");
        if (a.OutputRank is { } rank && rank < 1) errors.Add($"aggregation.outputRank: must be at least 1, not {rank}");
        if (a.NormCap is { } cap && !(cap > 0)) errors.Add($"aggregation.normCap: must be positive, not {cap}");
        if (a.MaxExampleCount is < 1) errors.Add($"aggregation.maxExampleCount: must be at least 1, not {a.MaxExampleCount}");
        if (a.Weighting is { } w && !Enum.IsDefined(w)) errors.Add($"aggregation.weighting: must be examples or equal, not {w}");
        if (a.GlobalEnergy is { } energy && !(energy > 0 && energy <= 1))
            errors.Add($"aggregation.globalEnergy: the fraction of each module's energy the global keeps must be in (0, 1], not {energy}");
        else if (a.GlobalEnergy is not null && a.Rule is not null && RobustRules.CoordinateWiseNames.Contains(a.Rule))
            errors.Add($"aggregation.globalEnergy: truncates a stacked global; {a.Rule}'s dense result is written at the clients' rank instead");
        if (strategy is null) return;
        if (a.GlobalEnergy is not null && !strategy.StacksGlobal)
            errors.Add($"aggregation.globalEnergy: truncates a stacked global ({string.Join(", ", FederatedStrategies.All.Where(s => s.StacksGlobal).Select(s => s.Name))}); {strategy.Name}'s global is at the clients' rank already");
        if (!strategy.MixedRanks && c.RankPolicy is { } p && p.Ranks().Length > 1)
            errors.Add($"aggregation.strategy: {strategy.Name} needs one rank for every client; use a fixed rank policy or a heterogeneous-rank strategy ({string.Join(", ", FederatedStrategies.All.Where(s => s.MixedRanks).Select(s => s.Name))})");
        if (a.Rule is not null && RobustRules.CoordinateWiseNames.Contains(a.Rule) && !strategy.AcceptsDenseResult)
            errors.Add($"aggregation.rule: {a.Rule} returns a dense delta, which only a strategy that merges each round into the base can take (flora), not {strategy.Name}");
    }

    static void ValidateArchitecture(ModelArchitecture a, FederationConfig c, List<string> errors)
    {
        if (a.HiddenSize < 1 || a.NumHiddenLayers < 1 || a.NumAttentionHeads < 1 || a.NumKeyValueHeads < 1 || a.IntermediateSize < 1 || a.HeadDim is < 1)
        {
            errors.Add("architecture: hiddenSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, intermediateSize (and headDim when given) must be at least 1");
            return;
        }
        if (a.HeadDim is null && a.HiddenSize % a.NumAttentionHeads != 0)
            errors.Add($"architecture: hiddenSize {a.HiddenSize} is not a multiple of numAttentionHeads {a.NumAttentionHeads}; give headDim");
        if (a.NumAttentionHeads % a.NumKeyValueHeads != 0)
            errors.Add($"architecture: numAttentionHeads {a.NumAttentionHeads} is not a multiple of numKeyValueHeads {a.NumKeyValueHeads}");
        if ((long)a.HiddenSize * a.NumHiddenLayers > 1L << 24 || a.IntermediateSize > 1 << 20)
            errors.Add("architecture: larger than any model this coordinator can serve (hiddenSize x numHiddenLayers above 2^24, or intermediateSize above 2^20)");
        if (c.TargetModules is { } targets && targets.Except(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]).FirstOrDefault() is { } unknown)
            errors.Add($"targetModules: '{unknown}' is not a linear layer of a Llama-family base (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
    }

    /// <summary>Configs compared by value (records compare arrays by reference).</summary>
    public static bool SameConfig(FederationConfig x, FederationConfig y) =>
        WithoutArrays(x) == WithoutArrays(y)
        && x.TargetModules.SequenceEqual(y.TargetModules)
        && x.RankPolicy.Tiers.SequenceEqual(y.RankPolicy.Tiers);

    static FederationConfig WithoutArrays(FederationConfig c) =>
        c with { TargetModules = Array.Empty<string>(), RankPolicy = c.RankPolicy with { Tiers = Array.Empty<RankTier>() } };
}
