namespace Federated.Training.Training;

/// <summary>Linear warm-up to the peak, then cosine decay to <c>minRatio</c> x peak at the last step.</summary>
public static class LearningRateSchedule
{
    /// <param name="step">0-based optimiser step.</param>
    public static double At(int step, int totalSteps, double peak, int warmupSteps, double minRatio)
    {
        if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
        int decaySteps = Math.Max(1, totalSteps - warmupSteps);
        double progress = Math.Min(1.0, (double)(step - warmupSteps) / decaySteps);
        return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
