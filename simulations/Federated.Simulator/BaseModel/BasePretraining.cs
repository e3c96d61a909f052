using System.Text.Json;
using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Models;
using Federated.Training.Tokenization;
using Federated.Training.Training;

namespace Federated.Simulator.BaseModel;

/// <summary>One row of the pretraining log (<c>log.jsonl</c>): the step's training loss and, every so often, held-out loss.</summary>
public sealed record PretrainingLogRow(int Step, double Loss, double LearningRate, double TokensPerSecond, double? HeldOutLoss);

/// <summary>What <c>pretraining.json</c> records next to the model: the plan, the corpus, and the outcome.</summary>
public sealed record PretrainingRecord(PretrainingPlan Plan, IReadOnlyList<CorpusSource> Sources, int TrainDocuments, int HeldOutDocuments,
    long TrainBytes, long HeldOutBytes, long Parameters, int Steps, double FirstLoss, double LastLoss, long TokensSeen, double Hours,
    double HeldOutNatsPerByte, long HeldOutBytesScored);

/// <summary>
/// Pretrains the base model the simulations and tests start from. Resumable: the trainer's state is saved every two
/// minutes under <c>OUT.work/</c>, and running the same command again continues from it (same plan and corpus, else it
/// starts over). The model directory appears only when training is complete.
/// </summary>
public static class BasePretraining
{
    public const string RecordFile = "pretraining.json", LogFile = "log.jsonl";

    public static PretrainingRecord Run(PretrainingPlan plan, string outDir, Action<string> log, CancellationToken cancellation)
    {
        var corpus = PretrainingCorpus.Load();
        foreach (var s in corpus.Sources) log($"{s.Name}: {s.Documents:N0} documents, {s.Bytes / 1e6:F1} MB ({s.Package}; {s.Licence})");
        var tokenizer = ByteLevelTokenizer.Instance;
        var train = PlainTextChunker.Chunk(string.Join("\n\n", corpus.Train), tokenizer, plan.ContextLength);
        var heldOut = HeldOutWindows(corpus, plan);
        var curve = CurveWindows(heldOut, plan);
        log($"train: {corpus.Train.Count:N0} documents, {train.Count:N0} windows of {plan.ContextLength} bytes; held out: {corpus.HeldOut.Count:N0} documents, {heldOut.Count:N0} windows");

        string work = Path.GetFullPath(outDir) + ".work";
        Directory.CreateDirectory(work);
        string identity = JsonSerializer.Serialize(new { plan, train = train.Count, heldOut = heldOut.Count });
        var checkpoint = new TrainingCheckpoint(Path.Combine(work, "train.ckpt"), TimeSpan.FromMinutes(2), identity);
        int pad = tokenizer.PadId ?? 0;

        using var lm = LlamaForCausalLM.Create(LlamaConfig.Preset(plan.Preset), plan.Seed);
        long parameters = lm.parameters().Sum(p => p.numel());
        log($"pretraining {plan.Preset}: {parameters:N0} parameters, {plan.Steps:N0} steps of {plan.BatchSize} x {plan.ContextLength} bytes ({plan.Tokens / 1e6:F1} M bytes)");
        using var logFile = new StreamWriter(Path.Combine(work, LogFile), append: true) { AutoFlush = true };
        var progress = new Progress(p =>
        {
            double? heldOutLoss = null;
            if (p.Step % plan.EvaluateEvery == 0 || p.Step == p.TotalSteps)
            {
                heldOutLoss = Evaluator.Evaluate(lm, TrainingBatcher.Batches(curve, 32, pad, seed: null)).MeanLoss;
                lm.train();
            }
            logFile.WriteLine(JsonSerializer.Serialize(new PretrainingLogRow(p.Step, p.Loss, p.LearningRate, p.TokensPerSecond, heldOutLoss)));
            if (heldOutLoss is not null || p.Step % 50 == 0)
                log($"  step {p.Step}/{p.TotalSteps}: loss {p.Loss:F3}{(heldOutLoss is { } h ? $", held out {h:F3}" : "")}, {p.TokensPerSecond:N0} bytes/s");
        });
        var summary = LocalTrainer.Train(lm, lm.parameters().ToList(),
            epoch => TrainingBatcher.Batches(train, plan.BatchSize, pad, unchecked((int)plan.Seed) + epoch),
            new TrainerOptions
            {
                MaxSteps = plan.Steps, LearningRate = plan.LearningRate, WarmupSteps = Math.Max(1, plan.Steps / 20),
                MinLearningRateRatio = 0.1, Seed = plan.Seed,
            },
            progress, cancellation, checkpoint);

        var score = Evaluator.Evaluate(lm, TrainingBatcher.Batches(heldOut, 32, pad, seed: null));
        log($"held out: {score.MeanLoss:F4} nats/byte over {score.Tokens:N0} bytes");
        var record = new PretrainingRecord(plan, corpus.Sources, corpus.Train.Count, corpus.HeldOut.Count,
            train.Sum(e => (long)e.Length), heldOut.Sum(e => (long)e.Length), parameters, summary.Steps,
            summary.FirstLoss, summary.LastLoss, summary.Tokens, summary.Elapsed.TotalHours, score.MeanLoss, score.Tokens);

        string staging = Path.GetFullPath(outDir) + ".partial";
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        HfCheckpoint.Save(lm, staging);
        tokenizer.Save(staging);
        File.WriteAllText(Path.Combine(staging, RecordFile), JsonSerializer.Serialize(record, new JsonSerializerOptions { WriteIndented = true }));
        File.Copy(Path.Combine(work, LogFile), Path.Combine(staging, LogFile));
        if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        Directory.Move(staging, outDir);
        return record;
    }

    /// <summary>The held-out documents as the model is scored on them: joined as in training, cut into windows of the context length.</summary>
    public static IReadOnlyList<TrainingExample> HeldOutWindows(PretrainingCorpus corpus, PretrainingPlan plan) =>
        PlainTextChunker.Chunk(string.Join("\n\n", corpus.HeldOut), ByteLevelTokenizer.Instance, plan.ContextLength);

    /// <summary>The loss curve's held-out windows: <see cref="PretrainingPlan.CurveWindows"/> of them, evenly spaced.</summary>
    public static IReadOnlyList<TrainingExample> CurveWindows(IReadOnlyList<TrainingExample> heldOut, PretrainingPlan plan)
    {
        int n = Math.Min(plan.CurveWindows, heldOut.Count);
        return Enumerable.Range(0, n).Select(i => heldOut[i * heldOut.Count / n]).ToList();
    }

    sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
