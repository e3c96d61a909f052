using Federated.Core.Adapters;
using Federated.Protocol.V1;
using static Federated.Agent.Trust.CoordinatorLimits;

namespace Federated.Agent.Trust;

/// <summary>A task whose every field was checked; its references are the ones to download, in this order.</summary>
/// <param name="History">The merged history, oldest first.</param>
/// <param name="Init">The adapter to continue, or null for fresh branches.</param>
/// <param name="Layers">The local model's layers of the task's target modules: what every downloaded adapter must fit.</param>
public sealed record AcceptedTask(TrainingTask Task, IReadOnlyList<(int Round, AdapterReference Adapter)> History, AdapterReference? Init,
    IReadOnlyList<ModuleShape> Layers);

/// <summary>
/// The one check a <see cref="TrainingTask"/> passes before the agent acts on it: the federation is the agent's own,
/// every reference is an <see cref="AdapterReference"/>, every string and count is bounded, every number is finite and
/// in range, and the target modules and rank fit the local model.
/// </summary>
public static class TrainingTaskCheck
{
    /// <param name="federationId">The federation this agent enrolled in.</param>
    /// <param name="localLayers">Every linear layer of the local base model (<c>model.layers.N.self_attn.q_proj</c>, ...) with its dimensions.</param>
    /// <exception cref="CoordinatorInputException">The first field that is out of bounds, named.</exception>
    public static AcceptedTask Accept(TrainingTask task, string federationId, long maxAdapterBytes, IReadOnlyList<ModuleShape> localLayers)
    {
        if (task.FederationId != federationId)
            throw Refused(task, $"it is for federation '{CoordinatorText.Preview(task.FederationId)}', but this agent enrolled in '{federationId}'");
        if (task.Round < 0)
            throw Refused(task, "its round is negative");
        try
        {
            CoordinatorText.Bounded(task.BaseModel, "base_model", MaxTextLength);
            CoordinatorText.Bounded(task.Strategy, "strategy", MaxTextLength);
            var layers = TargetLayers(task, localLayers);
            CheckNumbers(task, layers);
            if (task.GlobalAdapters.Count > MaxHistoryAdapters)
                throw new CoordinatorInputException($"global_adapters lists {task.GlobalAdapters.Count:N0} history deltas, over the {MaxHistoryAdapters:N0} allowed");
            var history = task.GlobalAdapters.Select((g, i) =>
            {
                var adapter = AdapterReference.From(g.Adapter, $"global_adapters[{i}]", maxAdapterBytes);
                if (g.Round < 0) throw new CoordinatorInputException($"global_adapters[{i}]: round {g.Round} is negative");
                return (g.Round, adapter);
            }).ToList();
            var init = task.InitAdapter is null ? null : AdapterReference.From(task.InitAdapter, "init_adapter", maxAdapterBytes);
            if (!Enum.IsDefined(task.Frozen))
                throw new CoordinatorInputException($"frozen is {(int)task.Frozen}, not a known value (none or A)");
            return new AcceptedTask(task, history, init, layers);
        }
        catch (CoordinatorInputException e)
        {
            throw Refused(task, e.Message);
        }
    }

    /// <summary>The local layers the task's target modules select; each target must name a layer kind of the local model.</summary>
    static IReadOnlyList<ModuleShape> TargetLayers(TrainingTask task, IReadOnlyList<ModuleShape> localLayers)
    {
        var targets = task.TargetModules;
        if (targets.Count is 0 or > MaxTargetModules)
            throw new CoordinatorInputException($"target_modules lists {targets.Count:N0} modules; 1 to {MaxTargetModules} are allowed");
        var kinds = localLayers.Select(l => TargetName(l.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var target in targets)
        {
            CoordinatorText.Bounded(target, "a target module", MaxModuleNameLength, allowEmpty: false);
            if (!kinds.Contains(target))
                throw new CoordinatorInputException($"target module '{CoordinatorText.Preview(target)}' is not a layer of the local model ({string.Join(", ", kinds.Order(StringComparer.Ordinal))})");
        }
        if (targets.Distinct(StringComparer.Ordinal).Count() != targets.Count)
            throw new CoordinatorInputException("target_modules names a module twice");
        var wanted = targets.ToHashSet(StringComparer.Ordinal);
        return localLayers.Where(l => wanted.Contains(TargetName(l.Name))).ToList();
    }

    static void CheckNumbers(TrainingTask task, IReadOnlyList<ModuleShape> layers)
    {
        // Fresh branches then cost at most as much as the layer itself (rank x (in + out) <= 2 in x out). A rank above a layer's
        // smaller dimension adds no expressiveness, but the coordinator's rank policy may assign it: refuse only what is absurd.
        int maxRank = layers.Max(l => Math.Max(l.InFeatures, l.OutFeatures));
        if (task.Rank < 1 || task.Rank > maxRank)
            throw new CoordinatorInputException($"rank {task.Rank:N0} is outside 1..{maxRank} (the largest dimension of the local target layers)");
        if (!double.IsFinite(task.LoraAlpha) || task.LoraAlpha <= 0 || task.LoraAlpha > MaxLoraAlpha)
            throw new CoordinatorInputException($"lora_alpha {task.LoraAlpha} is not a finite number in (0, {MaxLoraAlpha:G}]");
        var plan = task.Training ?? throw new CoordinatorInputException("training is missing");
        if (plan.LocalSteps < 1 || plan.LocalSteps > MaxLocalSteps)
            throw new CoordinatorInputException($"training.local_steps {plan.LocalSteps:N0} is outside 1..{MaxLocalSteps:N0}");
        if (plan.BatchSize < 1 || plan.BatchSize > MaxBatchSize)
            throw new CoordinatorInputException($"training.batch_size {plan.BatchSize:N0} is outside 1..{MaxBatchSize:N0}");
        if (!double.IsFinite(plan.LearningRate) || plan.LearningRate <= 0 || plan.LearningRate > MaxLearningRate)
            throw new CoordinatorInputException($"training.learning_rate {plan.LearningRate} is not a finite number in (0, {MaxLearningRate:G}]");
        if (!double.IsFinite(plan.LoraDropout) || plan.LoraDropout < 0 || plan.LoraDropout >= 1)
            throw new CoordinatorInputException($"training.lora_dropout {plan.LoraDropout} is not in [0, 1)");
    }

    static string TargetName(string path) => path[(path.LastIndexOf('.') + 1)..];

    static CoordinatorInputException Refused(TrainingTask task, string why) => new($"the coordinator's task for round {task.Round} is refused: {why}");
}
