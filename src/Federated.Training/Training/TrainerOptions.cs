namespace Federated.Training.Training;

/// <summary>Hyper-parameters of local training. Defaults suit LoRA fine-tuning.</summary>
public sealed record TrainerOptions
{
    /// <summary>Optimiser steps to run; null runs <see cref="Epochs"/> passes over the data.</summary>
    public int? MaxSteps { get; init; }
    public int Epochs { get; init; } = 1;
    public double LearningRate { get; init; } = 3e-4;
    /// <summary>AdamW's decoupled weight decay, stated explicitly (TorchSharp's default is 0, PyTorch's 0.01).</summary>
    public double WeightDecay { get; init; }
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Linear warm-up steps before the cosine decay.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Where cosine decay ends, as a fraction of the learning rate.</summary>
    public double MinLearningRateRatio { get; init; }
    /// <summary>Clip the global gradient norm to this; null leaves gradients alone.</summary>
    public double? MaxGradNorm { get; init; } = 1.0;
    /// <summary>Micro-batches summed into each optimiser step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Seeds dropout; data order and LoRA init take their own seeds.</summary>
    public long Seed { get; init; }

    public TrainerOptions Validated()
    {
        if (MaxSteps is <= 0) throw new ArgumentException($"MaxSteps must be positive, got {MaxSteps}");
        if (Epochs <= 0) throw new ArgumentException($"Epochs must be positive, got {Epochs}");
        if (!(LearningRate > 0)) throw new ArgumentException($"LearningRate must be positive, got {LearningRate}");
        if (WeightDecay < 0) throw new ArgumentException($"WeightDecay must be non-negative, got {WeightDecay}");
        if (WarmupSteps < 0) throw new ArgumentException($"WarmupSteps must be non-negative, got {WarmupSteps}");
        if (MinLearningRateRatio is < 0 or > 1) throw new ArgumentException($"MinLearningRateRatio must be in [0, 1], got {MinLearningRateRatio}");
        if (MaxGradNorm is <= 0) throw new ArgumentException($"MaxGradNorm must be positive, got {MaxGradNorm}");
        if (GradientAccumulation <= 0) throw new ArgumentException($"GradientAccumulation must be positive, got {GradientAccumulation}");
        return this;
    }
}

/// <summary>One optimiser step's report.</summary>
/// <param name="Loss">Mean loss over the step's micro-batches.</param>
/// <param name="TokensPerSecond">Tokens (inputs, padding included) processed per second so far.</param>
public sealed record TrainingProgress(int Step, int TotalSteps, double Loss, double LearningRate, double GradNorm, double TokensPerSecond);

/// <summary>What a run did (a resumed run: with the steps before its restart).</summary>
/// <param name="ResumedAtStep">The saved step a <see cref="TrainingCheckpoint"/> continued from; 0 for a run from the start.</param>
public sealed record TrainingSummary(int Steps, double FirstLoss, double LastLoss, long Tokens, TimeSpan Elapsed, int ResumedAtStep = 0)
{
    public double TokensPerSecond => Tokens / Math.Max(Elapsed.TotalSeconds, 1e-9);
}
