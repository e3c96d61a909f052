using Federated.Simulator.Experiments;
using Federated.Training.Data;
using Federated.Training.Models;
using Federated.Training.Tokenization;
using Federated.Training.Training;

namespace Federated.Simulator.Runtime;

/// <summary>
/// The frozen base every run starts from: a model directory, or a preset created and pretrained once on
/// English text nobody in this project wrote (Debian's /usr/share/common-licenses) and cached, so federated
/// LoRA starts from a model that has learned something and later runs skip the pretraining.
/// </summary>
public static class BaseModels
{
    public const string CorpusDirectory = "/usr/share/common-licenses";

    public static string Ensure(ModelSettings model, long seed, string cacheRoot, Action<string> log, CancellationToken cancellation)
    {
        if (model.Directory is not null) return model.Directory;
        string dir = Path.Combine(cacheRoot, $"{model.Preset}-seed{seed}-pretrain{model.PretrainSteps}-ctx{model.ContextLength}");
        if (File.Exists(Path.Combine(dir, "config.json"))) return dir;

        string staging = dir + ".partial";
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        using (var lm = LlamaForCausalLM.Create(LlamaConfig.Preset(model.Preset), seed))
        {
            if (model.PretrainSteps > 0)
            {
                var tokenizer = ByteLevelTokenizer.Instance;
                var corpus = Directory.GetFiles(CorpusDirectory).Order(StringComparer.Ordinal)
                    .Where(f => new FileInfo(f).Length > 0)
                    .SelectMany(f => PlainTextChunker.ReadFile(f, tokenizer, model.ContextLength)).ToList();
                log($"pretraining the {model.Preset} base for {model.PretrainSteps} steps on {corpus.Count:N0} sequences from {CorpusDirectory} (cached in {dir})");
                var summary = LocalTrainer.Train(lm, lm.parameters().ToList(),
                    epoch => TrainingBatcher.Batches(corpus, 16, tokenizer.PadId ?? 0, unchecked((int)seed) + epoch),
                    new TrainerOptions
                    {
                        MaxSteps = model.PretrainSteps, LearningRate = 3e-3, WarmupSteps = Math.Max(1, model.PretrainSteps / 20),
                        MinLearningRateRatio = 0.1, Seed = seed,
                    },
                    new Progress(log, Math.Max(1, model.PretrainSteps / 5)), cancellation);
                log($"pretrained: loss {summary.FirstLoss:F3} -> {summary.LastLoss:F3}");
            }
            HfCheckpoint.Save(lm, staging);
            ByteLevelTokenizer.Instance.Save(staging);
        }
        // Renamed into place only when complete, so an interrupted pretraining is redone, never half-used.
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        Directory.Move(staging, dir);
        return dir;
    }

    sealed class Progress(Action<string> log, int every) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Step % every == 0) log($"  pretraining step {p.Step}/{p.TotalSteps}, loss {p.Loss:F3}, {p.TokensPerSecond:N0} tokens/s");
        }
    }
}
