namespace Federated.Core.Adapters;

/// <summary>The LoRA scaling factor s in dW = s B A.</summary>
public static class LoraScaling
{
    public static double Scale(double alpha, int rank, bool useRsLora) =>
        useRsLora ? alpha / Math.Sqrt(rank) : alpha / rank;

    /// <summary>The alpha that gives scale <paramref name="scale"/> at <paramref name="rank"/>.</summary>
    public static double AlphaFor(double scale, int rank, bool useRsLora) =>
        useRsLora ? scale * Math.Sqrt(rank) : scale * rank;
}
