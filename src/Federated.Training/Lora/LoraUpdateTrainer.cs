using Federated.Core.Adapters;
using Federated.Training.Data;
using Federated.Training.Models;
using Federated.Training.Training;

namespace Federated.Training.Lora;

/// <summary>What a round asks of one client: LoRA on these modules at this rank, trained this long.</summary>
public sealed record LoraTask(IReadOnlyList<string> TargetModules, int Rank, double Alpha, double Dropout,
    int LocalSteps, int BatchSize, double LearningRate, string? BaseModel);

/// <summary>
/// One client's local work in a round, shared by the agent and the simulator: fresh LoRA branches at the
/// assigned rank on a model whose base already holds the global adapter, a few optimiser steps on local data,
/// and the trained branches exported as the update. The model is left without branches afterwards.
/// </summary>
public static class LoraUpdateTrainer
{
    public static (LoraAdapter Update, TrainingSummary Summary) Train(LlamaForCausalLM model, LoraTask task,
        IReadOnlyList<TrainingExample> examples, int padId, long seed,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, TrainingCheckpoint? checkpoint = null)
    {
        if (examples.Count == 0) throw new ArgumentException("no local training examples");
        LoraInjection.Inject(model, task.TargetModules, task.Rank, task.Alpha, task.Dropout, seed: seed);
        try
        {
            var summary = LocalTrainer.Train(model, LoraInjection.TrainableParameters(model),
                epoch => TrainingBatcher.Batches(examples, task.BatchSize, padId, unchecked((int)seed) + epoch),
                new TrainerOptions
                {
                    MaxSteps = task.LocalSteps, LearningRate = task.LearningRate, WarmupSteps = Math.Max(1, task.LocalSteps / 10),
                    MinLearningRateRatio = 0.1, Seed = seed,
                },
                progress, cancellation, checkpoint);
            return (LoraInjection.Export(model, task.BaseModel), summary);
        }
        finally
        {
            LoraInjection.Remove(model);
        }
    }
}
