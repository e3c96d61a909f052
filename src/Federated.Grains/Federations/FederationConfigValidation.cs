using Federated.Contracts;
using Federated.Core.Aggregation;
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

        if (errors.Count > 0)
            throw new FederationException(FederationError.InvalidArgument, $"federation '{id}': " + string.Join("; ", errors));
    }

    static void ValidateAggregation(FederationConfig c, List<string> errors)
    {
        var a = c.Aggregation;
        if (!AggregationStrategies.Names.Contains(a.Strategy))
            errors.Add($"aggregation.strategy: '{a.Strategy}' is not one of {string.Join(", ", AggregationStrategies.Names)}");
        var rules = RobustRules.Names.Concat(RobustRules.CoordinateWiseNames).Where(r => r != "fltrust").ToList();
        if (a.Rule == "fltrust")
            errors.Add("aggregation.rule: fltrust needs a root data set on the coordinator, which federations do not have yet");
        else if (a.Rule is not null && !rules.Contains(a.Rule))
            errors.Add($"aggregation.rule: '{a.Rule}' is not one of {string.Join(", ", rules)}");
        if (a.PreAggregator is not null && !RobustRules.PreAggregatorNames.Contains(a.PreAggregator))
            errors.Add($"aggregation.preAggregator: '{a.PreAggregator}' is not one of {string.Join(", ", RobustRules.PreAggregatorNames)}");
        else if (a.PreAggregator is not null && (a.Rule is null || RobustRules.CoordinateWiseNames.Contains(a.Rule)))
            errors.Add("aggregation.preAggregator: needs a Gram-based rule (krum, multi-krum, geometric-median, centered-clipping, norm-bound, flag)");
        if (a.ByzantineCount < 0) errors.Add($"aggregation.byzantineCount: must not be negative, not {a.ByzantineCount}");
        if (a.Tau is { } tau && !(tau > 0)) errors.Add($"aggregation.tau: must be positive, not {tau}");
        if (a.OutputRank is { } rank && rank < 1) errors.Add($"aggregation.outputRank: must be at least 1, not {rank}");
        if (a.NormCap is { } cap && !(cap > 0)) errors.Add($"aggregation.normCap: must be positive, not {cap}");
        // These two average factors entry by entry, which only means something when every client has one rank.
        if (a.Strategy is "fedit" or "ffa" && c.RankPolicy is { } p && p.Tiers.Any(t => t.Rank != p.CpuRank))
            errors.Add($"aggregation.strategy: {a.Strategy} needs one rank for every client; use a fixed rank policy or a heterogeneous-rank strategy (flora, flexlora, zero-padding, hetlora)");
    }

    /// <summary>Configs compared by value (records compare arrays by reference).</summary>
    public static bool SameConfig(FederationConfig x, FederationConfig y) =>
        WithoutArrays(x) == WithoutArrays(y)
        && x.TargetModules.SequenceEqual(y.TargetModules)
        && x.RankPolicy.Tiers.SequenceEqual(y.RankPolicy.Tiers);

    static FederationConfig WithoutArrays(FederationConfig c) =>
        c with { TargetModules = Array.Empty<string>(), RankPolicy = c.RankPolicy with { Tiers = Array.Empty<RankTier>() } };
}
