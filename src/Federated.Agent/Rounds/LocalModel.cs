using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats;
using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Tokenization;
using Federated.Training.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Agent.Rounds;

/// <summary>What one round of local training asks for (from the task, the rank possibly capped by the agent).</summary>
public sealed record LocalTrainingPlan(string BaseModel, IReadOnlyList<string> TargetModules, int Rank, double Alpha, double Dropout,
    int Steps, int BatchSize, double LearningRate, long Seed);

/// <summary>A trained update written to disk, with what the agent reports about it.</summary>
/// <param name="Sha256">Of the file's bytes, compressed or not: what is uploaded.</param>
/// <param name="Compression">Payload bytes against float32 when the upload is compressed; null otherwise.</param>
public sealed record TrainedUpdate(string Path, string Sha256, long Size, long ExampleCount, Dictionary<string, double> Metrics,
    CompressionStats? Compression = null);

/// <summary>
/// The frozen base model, loaded once and kept across rounds, with the local data tokenized once. Each round the
/// federation's global adapters are merged into the base weights (FLoRA: W += s B A, in round order), then fresh
/// LoRA branches at the round's rank are trained and exported. The weights a merge changes are snapshotted first,
/// so a different chain of globals starts again from the pristine base.
/// </summary>
public sealed class LocalModel : IDisposable
{
    readonly LlamaForCausalLM _model;
    readonly ITextTokenizer _tokenizer;
    readonly IReadOnlyList<TrainingExample> _train;
    readonly IReadOnlyList<TrainingExample>? _eval;
    readonly Dictionary<string, Tensor> _pristine = new(StringComparer.Ordinal);
    readonly List<string> _merged = [];

    LocalModel(LlamaForCausalLM model, ITextTokenizer tokenizer, IReadOnlyList<TrainingExample> train, IReadOnlyList<TrainingExample>? eval)
    {
        _model = model;
        _tokenizer = tokenizer;
        _train = train;
        _eval = eval;
    }

    /// <exception cref="ModelFormatException">The model directory cannot be loaded.</exception>
    /// <exception cref="TrainingDataException">A data file is malformed or holds no example.</exception>
    /// <param name="dtype">The base weights' dtype (<see cref="ComputePrecision"/>); the merged globals are added into it.</param>
    public static LocalModel Load(string modelDirectory, string data, string? evalData, int maxSequenceLength, Device device,
        ScalarType dtype = ScalarType.Float32)
    {
        var tokenizer = TokenizerLoader.Load(modelDirectory);
        var train = DatasetFiles.Load(data, tokenizer, maxSequenceLength);
        var eval = string.IsNullOrEmpty(evalData) ? null : DatasetFiles.Load(evalData, tokenizer, maxSequenceLength);
        var model = HfCheckpoint.Load(modelDirectory, dtype);
        model.to(device);
        model.eval();
        return new LocalModel(model, tokenizer, train, eval);
    }

    public int TrainingExamples => _train.Count;
    public int? EvaluationExamples => _eval?.Count;
    public long Parameters => _model.parameters().Sum(p => p.numel());
    int PadId => _tokenizer.PadId ?? _tokenizer.EosId ?? 0;

    /// <summary>Makes the model's weights base + the given global adapters (in order), merging only what is new.</summary>
    /// <param name="chain">(sha256, file) of every global adapter to be merged, oldest first.</param>
    public void MergeGlobals(IReadOnlyList<(string Sha256, string Path)> chain)
    {
        LoraInjection.Remove(_model);
        bool extends = _merged.Count <= chain.Count && _merged.SequenceEqual(chain.Take(_merged.Count).Select(c => c.Sha256));
        if (!extends) Restore();
        foreach (var (sha, path) in chain.Skip(_merged.Count))
        {
            using var adapter = AdapterPayload.Read(File.ReadAllBytes(path), path);
            Snapshot(adapter);
            LoraInjection.Merge(_model, adapter);
            _merged.Add(sha);
        }
    }

    /// <summary>Held-out loss of the model as it is now (base + merged globals + any LoRA branches), or null without eval data.</summary>
    public double? EvaluationLoss(int batchSize) =>
        _eval is null ? null : Evaluator.Evaluate(_model, TrainingBatcher.Batches(_eval, batchSize, PadId, seed: null)).MeanLoss;

    /// <summary>Trains fresh LoRA branches on the merged model (as the simulator's clients do) and writes them as one payload file.</summary>
    /// <param name="compression">Writes the compressed upload instead of the float32 payload; null for float32.</param>
    /// <param name="checkpoint">Where training saves its state, and continues from after a restart; null for none.</param>
    public TrainedUpdate Train(LocalTrainingPlan plan, string updatePath, IProgress<TrainingProgress> progress, CancellationToken cancellation,
        UploadCompression? compression = null, TrainingCheckpoint? checkpoint = null)
    {
        var metrics = new Dictionary<string, double> { ["examples"] = _train.Count };
        if (EvaluationLoss(plan.BatchSize) is { } before) metrics["eval_loss_before"] = before;
        var task = new LoraTask(plan.TargetModules, plan.Rank, plan.Alpha, plan.Dropout, plan.Steps, plan.BatchSize, plan.LearningRate, plan.BaseModel);
        var (update, summary) = LoraUpdateTrainer.Train(_model, task, _train, PadId, plan.Seed, progress, cancellation, checkpoint);
        using (update)
        {
            metrics["train_loss"] = summary.LastLoss;
            metrics["train_loss_first"] = summary.FirstLoss;
            metrics["tokens_per_second"] = summary.TokensPerSecond;
            metrics["steps"] = summary.Steps;
            if (summary.ResumedAtStep > 0) metrics["resumed_at_step"] = summary.ResumedAtStep;
            if (_eval is not null)
            {
                LoraInjection.Import(_model, update); // the update on top of the merged base, as the coordinator will see it
                try { metrics["eval_loss"] = EvaluationLoss(plan.BatchSize)!.Value; }
                finally { LoraInjection.Remove(_model); }
            }
            var written = UpdateFile.Write(updatePath, update, compression, plan.Seed);
            // The operator sees what compression saved next to the losses (the coordinator logs reported metrics).
            if (written.Compression is { } stats) metrics["upload_compression_ratio"] = stats.Ratio;
            return new TrainedUpdate(updatePath, written.Sha256, written.Size, _train.Count, metrics, written.Compression);
        }
    }

    /// <summary>Keeps a CPU copy of each weight the adapter is about to change, the first time only.</summary>
    void Snapshot(LoraAdapter adapter)
    {
        var layers = _model.Projections().ToDictionary(p => p.Name, p => p.Layer);
        foreach (var m in adapter.Modules)
            if (!_pristine.ContainsKey(m.Name) && layers.TryGetValue(m.Name, out var layer))
                _pristine[m.Name] = layer.Weight.detach().cpu().clone();
    }

    void Restore()
    {
        var layers = _model.Projections().ToDictionary(p => p.Name, p => p.Layer);
        using (no_grad())
            foreach (var (name, weight) in _pristine) layers[name].Weight.copy_(weight);
        _merged.Clear();
    }

    public void Dispose()
    {
        foreach (var t in _pristine.Values) t.Dispose();
        _model.Dispose();
    }
}
