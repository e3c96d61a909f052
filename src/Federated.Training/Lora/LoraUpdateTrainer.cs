using Federated.Core.Runtime;
using Federated.Core.Adapters;
using Federated.Training.Data;
using Federated.Training.Models;
using Federated.Training.Training;

namespace Federated.Training.Lora;

/// <summary>What a round asks of one client: LoRA on these modules at this rank, trained this long.</summary>
public sealed record LoraTask(IReadOnlyList<string> TargetModules, int Rank, double Alpha, double Dropout,
    int LocalSteps, int BatchSize, double LearningRate, string? BaseModel);

/// <summary>
/// The optimiser steps of one client's round, shared by the agent and the simulator (through <see cref="Rounds.ClientRound"/>):
/// LoRA branches on a model whose base already holds the federation's merged history, either fresh at the assigned rank
/// (seeded) or continuing the adapter the federation handed the client (<paramref name="init"/>, with A frozen when the
/// strategy says so), a few optimiser steps on local data, and the trained branches exported as the update. The model is
/// left without branches afterwards.
/// </summary>
public static class LoraUpdateTrainer
{
    /// <param name="init">The adapter to continue (its ranks and alphas replace the task's); null: fresh branches from <paramref name="seed"/>.</param>
    /// <param name="freezeA">Train B only; A stays the init's, bit for bit.</param>
    public static (LoraAdapter Update, TrainingSummary Summary) Train(LlamaForCausalLM model, LoraTask task,
        IReadOnlyList<TrainingExample> examples, int padId, long seed,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, TrainingCheckpoint? checkpoint = null,
        LoraAdapter? init = null, bool freezeA = false)
    {
        if (examples.Count == 0) throw new ArgumentException("no local training examples");
        if (freezeA && init is null) throw new ArgumentException("a frozen A needs the adapter it is taken from");
        using (NativeWork.Enter())
        {
            if (init is null) LoraInjection.Inject(model, task.TargetModules, task.Rank, task.Alpha, task.Dropout, seed: seed);
            else LoraInjection.Import(model, init, task.Dropout);
        }
        try
        {
            var summary = LocalTrainer.Train(model, LoraInjection.TrainableParameters(model, freezeA),
                epoch => TrainingBatcher.Batches(examples, task.BatchSize, padId, unchecked((int)seed) + epoch),
                new TrainerOptions
                {
                    MaxSteps = task.LocalSteps, LearningRate = task.LearningRate, WarmupSteps = Math.Max(1, task.LocalSteps / 10),
                    MinLearningRateRatio = 0.1, Seed = seed,
                },
                progress, cancellation, checkpoint);
            using (NativeWork.Enter()) return (LoraInjection.Export(model, task.BaseModel), summary);
        }
        finally
        {
            using (NativeWork.Enter()) LoraInjection.Remove(model);
        }
    }
}
