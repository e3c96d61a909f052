namespace Federated.Simulator.BaseModel;

/// <summary>
/// How the committed base model is pretrained: every weight of a Llama-architecture preset, byte-level, on
/// <see cref="PretrainingCorpus"/>. Steps x batch x context = tokens seen (the default: 3,000 x 16 x 256 = 12.3 M bytes).
/// </summary>
public sealed record PretrainingPlan
{
    public string Preset { get; init; } = "small";
    public int ContextLength { get; init; } = 256;
    public int BatchSize { get; init; } = 16;
    public int Steps { get; init; } = 3000;
    public double LearningRate { get; init; } = 3e-3;
    public long Seed { get; init; } = 1;
    /// <summary>Held-out windows scored every <see cref="EvaluateEvery"/> steps for the loss curve (the final score uses all).</summary>
    public int CurveWindows { get; init; } = 192;
    public int EvaluateEvery { get; init; } = 200;

    public long Tokens => (long)Steps * BatchSize * ContextLength;
}
