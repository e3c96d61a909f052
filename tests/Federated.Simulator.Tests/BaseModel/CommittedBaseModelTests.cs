using System.Text.Json;
using Federated.Simulator.BaseModel;
using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Models;

namespace Federated.Simulator.Tests.BaseModel;

/// <summary>The base model committed under simulations/models/ is the one its record and card describe.</summary>
[Collection(TorchSharpCollection.Name)]
public sealed class CommittedBaseModelTests
{
    public const string Name = "small-en";
    static readonly string Directory = Path.Combine(AppContext.BaseDirectory, "models", Name);

    [Fact]
    public void The_committed_base_reproduces_its_logged_held_out_loss_on_the_same_windows()
    {
        var record = JsonSerializer.Deserialize<PretrainingRecord>(File.ReadAllText(Path.Combine(Directory, BasePretraining.RecordFile)))!;
        var logged = File.ReadLines(Path.Combine(Directory, BasePretraining.LogFile)).Select(l => JsonSerializer.Deserialize<PretrainingLogRow>(l)!)
            .Last(r => r.HeldOutLoss is not null);
        Assert.Equal(record.Plan.Steps, logged.Step);

        var curve = BasePretraining.CurveWindows(BasePretraining.HeldOutWindows(PretrainingCorpus.Load(), record.Plan), record.Plan);
        using var lm = HfCheckpoint.Load(Directory);
        var score = Evaluator.Evaluate(lm, TrainingBatcher.Batches(curve, 32, Training.Tokenization.ByteLevelTokenizer.Pad, seed: null));

        Assert.Equal(logged.HeldOutLoss!.Value, score.MeanLoss, 1e-3);
        Assert.InRange(score.MeanLoss, 0, Math.Log(256) / 2); // far below a uniform guess over bytes (5.55 nats)
    }

    [Fact]
    public void Held_out_documents_are_never_training_documents_and_no_training_document_quotes_WordNet()
    {
        var corpus = PretrainingCorpus.Load();
        Assert.Empty(corpus.HeldOut.Intersect(corpus.Train).Where(d => d.Length > 40)); // short fortunes may repeat verbatim
        Assert.DoesNotContain(corpus.Train, d => d.Contains("[WordNet", StringComparison.Ordinal));
        Assert.InRange(corpus.HeldOut.Count * 100.0, corpus.Train.Count * 0.9, corpus.Train.Count * 1.1);
    }
}
