using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats;
using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Rounds;
using Federated.Training.Models;
using Federated.Training.Tokenization;
using Federated.Training.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Agent.Rounds;

/// <summary>A trained update written to disk, with what the agent reports about it.</summary>
/// <param name="Sha256">Of the file's bytes, compressed or not: what is uploaded.</param>
/// <param name="Compression">Payload bytes against float32 when the upload is compressed; null otherwise.</param>
public sealed record TrainedUpdate(string Path, string Sha256, long Size, long ExampleCount, Dictionary<string, double> Metrics,
    CompressionStats? Compression = null);

/// <summary>
/// The frozen base model, loaded once and kept across rounds, with the local data tokenized once, around the shared
/// <see cref="ClientRound"/>: each round the federation's merged history is brought into the base weights, the branches
/// start from the adapter the task names (or fresh), are trained and written as the update file to upload.
/// </summary>
public sealed class LocalModel : IDisposable
{
    readonly LlamaForCausalLM _model;
    readonly ClientRound _round;
    readonly IReadOnlyList<TrainingExample> _train;
    readonly IReadOnlyList<TrainingExample>? _eval;

    LocalModel(LlamaForCausalLM model, ITextTokenizer tokenizer, IReadOnlyList<TrainingExample> train, IReadOnlyList<TrainingExample>? eval)
    {
        _model = model;
        _round = new ClientRound(model, tokenizer.PadId ?? tokenizer.EosId ?? 0);
        _train = train;
        _eval = eval;
    }

    /// <exception cref="ModelFormatException">The model directory cannot be loaded.</exception>
    /// <exception cref="TrainingDataException">A data file is malformed or holds no example.</exception>
    /// <param name="dtype">The base weights' dtype (<see cref="ComputePrecision"/>); the merged history is added into it.</param>
    public static LocalModel Load(string modelDirectory, string data, string? evalData, int maxSequenceLength, Device device,
        ScalarType dtype = ScalarType.Float32)
    {
        var tokenizer = TokenizerLoader.Load(modelDirectory);
        var train = DatasetFiles.Load(data, tokenizer, maxSequenceLength);
        var eval = string.IsNullOrEmpty(evalData) ? null : DatasetFiles.Load(evalData, tokenizer, maxSequenceLength);
        var model = HfCheckpoint.Load(modelDirectory, dtype);
        model.to(device);
        model.eval();
        var layers = model.Projections().Select(p => new ModuleShape(p.Name, (int)p.Layer.InFeatures, (int)p.Layer.OutFeatures)).ToList();
        return new LocalModel(model, tokenizer, train, eval) { Layers = layers };
    }

    /// <summary>Every linear layer of the base model with its dimensions: what a task's target modules and a downloaded adapter must fit.</summary>
    public IReadOnlyList<ModuleShape> Layers { get; private init; } = [];

    public int TrainingExamples => _train.Count;
    public int? EvaluationExamples => _eval?.Count;
    public long Parameters => _model.parameters().Sum(p => p.numel());

    /// <summary>Makes the model's weights base + the given history deltas (in order), merging only what is new.</summary>
    /// <param name="history">(sha256, file) of every delta to be merged, oldest first.</param>
    public void MergeGlobals(IReadOnlyList<(string Sha256, string Path)> history) =>
        _round.MergeHistory(history.Select(h => (h.Sha256, (Func<LoraAdapter>)(() => AdapterPayload.ReadFile(h.Path)))).ToList());

    /// <summary>Held-out loss of the base + merged history, or null without eval data.</summary>
    public double? EvaluationLoss(int batchSize) => _eval is null ? null : _round.Evaluate(_eval, batchSize);

    /// <summary>Trains one round (<see cref="ClientRound"/>) on the merged model and writes the update as one payload file.</summary>
    /// <param name="init">The adapter the task says to continue; null for fresh branches.</param>
    /// <param name="compression">Writes the compressed upload instead of the float32 payload; null for float32.</param>
    /// <param name="checkpoint">Where training saves its state, and continues from after a restart; null for none.</param>
    public TrainedUpdate Train(ClientRoundTask task, string updatePath, IProgress<TrainingProgress> progress, CancellationToken cancellation,
        UploadCompression? compression = null, TrainingCheckpoint? checkpoint = null, LoraAdapter? init = null)
    {
        var (update, result) = _round.Train(task, init, _train, _eval, progress, cancellation, checkpoint);
        using (update)
        {
            var metrics = result.ToDictionary();
            var written = UpdateFile.Write(updatePath, update, compression, task.Seed);
            // The operator sees what compression saved next to the losses (the coordinator logs reported metrics).
            if (written.Compression is { } stats) metrics["upload_compression_ratio"] = stats.Ratio;
            return new TrainedUpdate(updatePath, written.Sha256, written.Size, _train.Count, metrics, written.Compression);
        }
    }

    public void Dispose()
    {
        _round.Dispose();
        _model.Dispose();
    }
}
