using Federated.Core.Runtime;
using System.Diagnostics;
using Federated.Training.Data;
using Federated.Training.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Federated.Training.Training;

/// <summary>
/// Trains the given parameters of a causal LM (a client's LoRA factors, or everything for full
/// fine-tuning) with AdamW, warm-up + cosine schedule, gradient clipping and accumulation. Every step
/// runs in a dispose scope, so nothing accumulates across steps; cancellation stops between steps.
/// Deterministic on CPU for a given seed and batch order.
/// </summary>
public static class LocalTrainer
{
    /// <param name="batches">The micro-batches of an epoch (called once per epoch); each is disposed after its step.</param>
    /// <param name="checkpoint">Saves the run's state as it goes and, when a saved state of the same run exists, continues from it.</param>
    public static TrainingSummary Train(LlamaForCausalLM model, IReadOnlyList<Parameter> parameters,
        Func<int, IEnumerable<TrainingBatch>> batches, TrainerOptions options,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, TrainingCheckpoint? checkpoint = null)
    {
        options.Validated();
        if (parameters.Count == 0) throw new ArgumentException("nothing to train: no parameters");
        int totalSteps = options.MaxSteps ?? options.Epochs * Math.Max(1, CountAndDispose(NativeWork.Each(batches(0))) / options.GradientAccumulation);
        var device = parameters[0].device;
        // The run's own dropout stream (see DropoutGenerator), on the model's device.
        using var dropoutGenerator = new Generator((ulong)options.Seed, device);
        using var _ = DropoutGenerator.Use(dropoutGenerator);
        model.train();
        AdamWOptimizer NewOptimizer() => new(parameters, options.LearningRate, options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
        var optimizer = NewOptimizer();

        string identity = checkpoint?.Identity(options, totalSteps, parameters) ?? "";
        var resumed = checkpoint?.TryRestore(identity, parameters, optimizer, dropoutGenerator);
        if (checkpoint is not null && resumed is null)
        {
            optimizer.Dispose(); // a file that broke off may have restored part of it
            optimizer = NewOptimizer();
        }
        var clock = Stopwatch.StartNew();
        double earlierSeconds = resumed?.Seconds ?? 0, savedAt = 0;
        long tokens = resumed?.Tokens ?? 0;
        int step = resumed?.Step ?? 0, micro = 0;
        double stepLoss = 0, firstLoss = resumed?.FirstLoss ?? double.NaN, lastLoss = resumed?.LastLoss ?? double.NaN;
        try
        {
            for (int epoch = resumed?.Epoch ?? 0; step < totalSteps && (options.MaxSteps is not null || epoch < options.Epochs); epoch++)
            {
                bool any = false;
                int skip = epoch == resumed?.Epoch ? resumed.MicroBatchesIntoEpoch : 0, intoEpoch = 0;
                foreach (var batch in NativeWork.Each(batches(epoch)))
                {
                    any = true;
                    if (intoEpoch++ < skip)
                    {
                        batch.Dispose(); // trained before the restart
                        continue;
                    }
                    double lr, norm;
                    using (NativeWork.Enter())
                    {
                        using (batch)
                        using (var scope = NewDisposeScope())
                        {
                            cancellation.ThrowIfCancellationRequested();
                            // Batches are built on the CPU; the model may live on a GPU.
                            using var accumulation = ((double)options.GradientAccumulation).ToScalar(); // held to the end (see NativeWork)
                            var loss = model.Loss(batch.InputIds.to(device), batch.Labels.to(device)).div(accumulation);
                            loss.backward();
                            stepLoss += loss.item<float>();
                            tokens += batch.InputIds.numel();
                        }
                        if (++micro < options.GradientAccumulation) continue;

                        lr = LearningRateSchedule.At(step, totalSteps, options.LearningRate, options.WarmupSteps, options.MinLearningRateRatio);
                        optimizer.LearningRate = lr;
                        norm = options.MaxGradNorm is { } max ? nn.utils.clip_grad_norm_(parameters, max) : double.NaN;
                        optimizer.Step();
                        DropGradients(parameters);
                    }
                    UndisposedNativeObjects.Release();

                    if (double.IsNaN(firstLoss)) firstLoss = stepLoss;
                    lastLoss = stepLoss;
                    progress?.Report(new TrainingProgress(step + 1, totalSteps, stepLoss, lr, norm, tokens / (earlierSeconds + clock.Elapsed.TotalSeconds)));
                    stepLoss = 0;
                    micro = 0;
                    ++step;
                    if (checkpoint is not null && (clock.Elapsed.TotalSeconds - savedAt >= checkpoint.Interval.TotalSeconds || step == totalSteps))
                    {
                        savedAt = clock.Elapsed.TotalSeconds;
                        checkpoint.Save(new TrainingCheckpoint.Position(identity, step, epoch, intoEpoch, firstLoss, lastLoss, tokens,
                            earlierSeconds + savedAt), parameters, optimizer, dropoutGenerator);
                    }
                    if (step >= totalSteps) break;
                }
                if (!any) throw new ArgumentException("the training data yields no batches");
            }
        }
        finally
        {
            DropGradients(parameters);
            optimizer.Dispose();
            model.eval();
        }
        return new TrainingSummary(step, firstLoss, lastLoss, tokens, TimeSpan.FromSeconds(earlierSeconds) + clock.Elapsed, resumed?.Step ?? 0);
    }

    /// <summary>
    /// Drops the gradients rather than zeroing them (PyTorch's set_to_none): the next backward assigns fresh gradients
    /// instead of adding into zeros, and no memset runs. TorchSharp 0.107's Optimizer.zero_grad also leaves one
    /// undisposed handle per parameter and step (it discards zero_()'s result), each freed only by the GC's finalizer.
    /// </summary>
    static void DropGradients(IEnumerable<Parameter> parameters)
    {
        foreach (var parameter in parameters) parameter.grad = null;
    }

    static int CountAndDispose(IEnumerable<TrainingBatch> batches)
    {
        int count = 0;
        foreach (var batch in batches)
        {
            batch.Dispose();
            count++;
        }
        return count;
    }
}
