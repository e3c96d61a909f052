using Federated.Core.Adapters;
using Federated.Core.Runtime;
using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Training;

namespace Federated.Training.Rounds;

/// <summary>What a client trains in one round: the task as the coordinator states it, the rank possibly capped by the client.</summary>
/// <param name="Seed">Seeds fresh branches and the order of the local data.</param>
/// <param name="FreezeA">Train B only (the init's A stays, bit for bit).</param>
public sealed record ClientRoundTask(IReadOnlyList<string> TargetModules, int Rank, double Alpha, double Dropout,
    int Steps, int BatchSize, double LearningRate, long Seed, string? BaseModel, bool FreezeA = false);

/// <summary>What a client reports about its round (the wire form is <see cref="ToDictionary"/>).</summary>
/// <param name="EvalLossBefore">Local held-out loss of what the client started from (base + history + init); null without eval data.</param>
/// <param name="EvalLoss">The same after training, with the update attached as the coordinator will see it.</param>
public sealed record ClientRoundMetrics(int Examples, double TrainLossFirst, double TrainLoss, double TokensPerSecond, int Steps,
    int ResumedAtStep, double? EvalLossBefore, double? EvalLoss)
{
    public Dictionary<string, double> ToDictionary()
    {
        var metrics = new Dictionary<string, double>
        {
            ["examples"] = Examples, ["train_loss_first"] = TrainLossFirst, ["train_loss"] = TrainLoss,
            ["tokens_per_second"] = TokensPerSecond, ["steps"] = Steps,
        };
        if (ResumedAtStep > 0) metrics["resumed_at_step"] = ResumedAtStep;
        if (EvalLossBefore is { } before) metrics["eval_loss_before"] = before;
        if (EvalLoss is { } after) metrics["eval_loss"] = after;
        return metrics;
    }
}

/// <summary>
/// The client side of a round, one implementation for the agent and the simulator: bring the model's base to base +
/// the federation's merged history, start from the adapter the federation handed this client (or fresh branches),
/// train, evaluate, and return the update with typed metrics. The agent adds transport, files and resume around it;
/// the simulator adds attacks and submits through the coordinator's admission check.
/// </summary>
public sealed class ClientRound(LlamaForCausalLM model, int padId) : IDisposable
{
    readonly MergedHistory _history = new(model);

    public LlamaForCausalLM Model => model;

    /// <summary>Makes the base weights base + <paramref name="deltas"/> (oldest first), merging only what is new.</summary>
    public void MergeHistory(IReadOnlyList<(string Key, Func<LoraAdapter> Load)> deltas) => _history.Apply(deltas);

    /// <summary>Mean loss of the model as it stands (base + history), with <paramref name="adapter"/> attached when given.</summary>
    public double Evaluate(IReadOnlyList<TrainingExample> examples, int batchSize, LoraAdapter? adapter = null)
    {
        if (adapter is not null)
            using (NativeWork.Enter()) LoraInjection.Import(model, adapter);
        try { return Evaluator.Evaluate(model, TrainingBatcher.Batches(examples, batchSize, padId, seed: null)).MeanLoss; }
        finally
        {
            if (adapter is not null)
                using (NativeWork.Enter()) LoraInjection.Remove(model);
        }
    }

    /// <summary>
    /// Mean loss of the model as it stands on each of <paramref name="sets"/>, in one length-ordered pass over all their
    /// examples (<see cref="Evaluator.MeanLosses"/>), with <paramref name="adapter"/> attached once when given.
    /// </summary>
    public double[] Evaluate(IReadOnlyList<IReadOnlyList<TrainingExample>> sets, int batchSize, LoraAdapter? adapter = null)
    {
        if (adapter is not null)
            using (NativeWork.Enter()) LoraInjection.Import(model, adapter);
        try { return Evaluator.MeanLosses(model, sets, batchSize, padId); }
        finally
        {
            if (adapter is not null)
                using (NativeWork.Enter()) LoraInjection.Remove(model);
        }
    }

    /// <param name="init">The adapter to continue; null: fresh branches at the task's rank.</param>
    /// <param name="eval">The client's own held-out examples, for the before/after losses; null for none.</param>
    public (LoraAdapter Update, ClientRoundMetrics Metrics) Train(ClientRoundTask task, LoraAdapter? init, IReadOnlyList<TrainingExample> train,
        IReadOnlyList<TrainingExample>? eval = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default,
        TrainingCheckpoint? checkpoint = null)
    {
        double? before = eval is null ? null : Evaluate(eval, task.BatchSize, init);
        var lora = new LoraTask(task.TargetModules, task.Rank, task.Alpha, task.Dropout, task.Steps, task.BatchSize, task.LearningRate, task.BaseModel);
        var (update, summary) = LoraUpdateTrainer.Train(model, lora, train, padId, task.Seed, progress, cancellation, checkpoint, init, task.FreezeA);
        try
        {
            double? after = eval is null ? null : Evaluate(eval, task.BatchSize, update);
            return (update, new ClientRoundMetrics(train.Count, summary.FirstLoss, summary.LastLoss, summary.TokensPerSecond, summary.Steps,
                summary.ResumedAtStep, before, after));
        }
        catch
        {
            update.Dispose();
            throw;
        }
    }

    public void Dispose() => _history.Dispose();
}
