using Federated.Core.Adapters;
using Federated.IO;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Training;
using TorchSharp.Modules;
using static Federated.Training.Tests.Training.LocalTrainerTests;

namespace Federated.Training.Tests.Training;

public class TrainingCheckpointTests
{
    const int Steps = 12;
    /// <summary>Dropout on (the generator's state must survive the restart) and two micro-batches a step over 5-batch epochs (steps straddle epochs).</summary>
    static readonly TrainerOptions Options = new() { MaxSteps = Steps, LearningRate = 1e-2, Seed = 4, GradientAccumulation = 2, WarmupSteps = 2 };

    static LlamaForCausalLM Model()
    {
        var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 1);
        LoraInjection.Inject(model, ["q_proj", "v_proj", "down_proj"], rank: 4, alpha: 8, dropout: 0.1, seed: 3);
        return model;
    }

    static TrainingSummary Train(LlamaForCausalLM model, TrainingCheckpoint? checkpoint, int? stopAfter = null)
    {
        var (train, _) = Split();
        var examples = train.Take(40).ToList();
        using var stop = new CancellationTokenSource();
        return LocalTrainer.Train(model, LoraInjection.TrainableParameters(model), epoch => Batches(examples, seed: 10 + epoch), Options,
            new Progress(r => { if (r.Step == stopAfter) stop.Cancel(); }), stop.Token, checkpoint);
    }

    static LoraAdapter Uninterrupted()
    {
        using var model = Model();
        Train(model, checkpoint: null);
        return LoraInjection.Export(model);
    }

    [Fact]
    public void A_run_stopped_mid_way_and_restarted_ends_with_exactly_the_parameters_of_an_uninterrupted_run()
    {
        using var directory = new TempDirectory();
        var checkpoint = new TrainingCheckpoint(directory.File("training.ckpt"), TimeSpan.Zero, "federation-a/round-1");
        using (var model = Model())
            Assert.Throws<OperationCanceledException>(() => Train(model, checkpoint, stopAfter: 5));

        using var restarted = Model(); // a new process: fresh branches, the same seeds
        var summary = Train(restarted, checkpoint);
        using var resumed = LoraInjection.Export(restarted);
        using var expected = Uninterrupted();

        Assert.Equal(5, summary.ResumedAtStep);
        Assert.Equal(Steps, summary.Steps);
        Assert.True(double.IsFinite(summary.FirstLoss), "the first step's loss is kept across the restart");
        AssertIdentical(expected, resumed);
    }

    [Fact]
    public void A_checkpoint_of_another_run_is_not_resumed()
    {
        using var directory = new TempDirectory();
        string path = directory.File("training.ckpt");
        using (var model = Model())
            Assert.Throws<OperationCanceledException>(() => Train(model, new TrainingCheckpoint(path, TimeSpan.Zero, "federation-a/round-1"), stopAfter: 5));

        using var next = Model();
        var summary = Train(next, new TrainingCheckpoint(path, TimeSpan.Zero, "federation-a/round-2"));
        using var trained = LoraInjection.Export(next);
        using var expected = Uninterrupted();

        Assert.Equal(0, summary.ResumedAtStep);
        AssertIdentical(expected, trained);
    }

    [Fact]
    public void A_damaged_checkpoint_is_ignored_and_training_starts_over()
    {
        using var directory = new TempDirectory();
        string path = directory.File("training.ckpt");
        var checkpoint = new TrainingCheckpoint(path, TimeSpan.Zero, "federation-a/round-1");
        using (var model = Model())
            Assert.Throws<OperationCanceledException>(() => Train(model, checkpoint, stopAfter: 5));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]); // cut inside the optimiser's state

        using var restarted = Model();
        var summary = Train(restarted, checkpoint);
        using var trained = LoraInjection.Export(restarted);
        using var expected = Uninterrupted();

        Assert.Equal(0, summary.ResumedAtStep);
        AssertIdentical(expected, trained);
    }

    /// <summary>One save of a small state: two parameters, AdamW after a step, a generator.</summary>
    static void Save(TrainingCheckpoint checkpoint, int step)
    {
        using var weight = new Parameter(randn(3, 4));
        using var bias = new Parameter(zeros(4));
        Parameter[] parameters = [weight, bias];
        using var optimizer = new AdamWOptimizer(parameters, 1e-2, 0.9, 0.999, 1e-8, 0);
        using (var loss = (weight.sum() + bias.sum()).pow(2)) loss.backward();
        optimizer.Step();
        using var generator = new Generator(7);
        checkpoint.Save(new TrainingCheckpoint.Position("run", step, 0, step, 1, 1, 10, 1), parameters, optimizer, generator);
    }

    static int? SavedStep(TrainingCheckpoint checkpoint)
    {
        using var weight = new Parameter(zeros(3, 4));
        using var bias = new Parameter(zeros(4));
        Parameter[] parameters = [weight, bias];
        using var optimizer = new AdamWOptimizer(parameters, 1e-2, 0.9, 0.999, 1e-8, 0);
        using var generator = new Generator(0);
        return checkpoint.TryRestore("run", parameters, optimizer, generator)?.Step;
    }

    [Fact]
    public void A_checkpoint_save_flushes_the_directory_after_the_rename_and_leaves_no_temporary_file()
    {
        using var directory = new TempDirectory();
        var checkpoint = new TrainingCheckpoint(directory.File("training.ckpt"), TimeSpan.Zero, "run");
        var calls = new RecordingSystemCalls();
        using (FileSystemSync.Use(calls))
        {
            Save(checkpoint, step: 1);
            Save(checkpoint, step: 2);
        }

        Assert.Equal(6, calls.Calls.Count);
        calls.AssertReplacedDurably(checkpoint.Path);
        Assert.Equal(2, SavedStep(checkpoint));
        Assert.Equal(["training.ckpt"], Directory.GetFiles(directory.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_checkpoint_save_that_fails_leaves_the_previous_checkpoint()
    {
        using var directory = new TempDirectory();
        var checkpoint = new TrainingCheckpoint(directory.File("training.ckpt"), TimeSpan.Zero, "run");
        Save(checkpoint, step: 1);

        using (FileSystemSync.Use(new RecordingSystemCalls { Fail = c => c.Kind == SystemCallKind.Rename }))
            Assert.Throws<IOException>(() => Save(checkpoint, step: 2));

        Assert.Equal(1, SavedStep(checkpoint));
        Assert.Equal(["training.ckpt"], Directory.GetFiles(directory.Path).Select(Path.GetFileName));
    }
}
