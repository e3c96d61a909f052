using System.CommandLine;

namespace Federated.Simulator.BaseModel;

/// <summary><c>fed-sim base pretrain</c>: the recipe of the committed base model under <c>simulations/models/</c>.</summary>
public static class BaseModelCommand
{
    public static Command Create(TextWriter output)
    {
        var defaults = new PretrainingPlan();
        var outDir = new Option<string>("--out") { Description = "The model directory to write (HF format); OUT.work/ keeps the resumable state", Required = true };
        var preset = new Option<string>("--preset") { Description = "Architecture preset (byte-level Llama)", DefaultValueFactory = _ => defaults.Preset };
        preset.AcceptOnlyFromAmong("tiny", "small");
        var steps = new Option<int>("--steps") { Description = "Optimiser steps", DefaultValueFactory = _ => defaults.Steps };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step", DefaultValueFactory = _ => defaults.BatchSize };
        var context = new Option<int>("--context-length") { Description = "Bytes per sequence", DefaultValueFactory = _ => defaults.ContextLength };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (warm-up 5% of the steps, cosine decay to 10%)", DefaultValueFactory = _ => defaults.LearningRate };
        var seed = new Option<long>("--seed") { Description = "Seed of the initialisation and the data order", DefaultValueFactory = _ => defaults.Seed };

        var pretrain = new Command("pretrain",
            $"Pretrain a base model on English text from Debian packages ({PretrainingCorpus.Packages}), 1 document in 100 held out. " +
            "Resumable: run the same command again after an interruption.")
        {
            outDir, preset, steps, batch, context, lr, seed,
        };
        pretrain.SetAction((parse, cancellation) =>
        {
            var plan = new PretrainingPlan
            {
                Preset = parse.GetValue(preset)!, Steps = parse.GetValue(steps), BatchSize = parse.GetValue(batch),
                ContextLength = parse.GetValue(context), LearningRate = parse.GetValue(lr), Seed = parse.GetValue(seed),
            };
            var record = BasePretraining.Run(plan, parse.GetValue(outDir)!, line => output.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}"), cancellation);
            output.WriteLine($"{record.Steps} steps in {record.Hours:F2} h; held out {record.HeldOutNatsPerByte:F4} nats/byte -> {Path.GetFullPath(parse.GetValue(outDir)!)}");
            return Task.FromResult(ExperimentCommand.ExitOk);
        });
        var model = new Option<string>("--model") { Description = "A model directory written by 'base pretrain'", Required = true };
        var card = new Command("card", "Fit byte 3-gram and 5-gram baselines on the same text, plot the loss curve and write the model card") { model };
        card.SetAction(parse =>
        {
            string dir = parse.GetValue(model)!;
            BaseModelCard.Write(dir, line => output.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}"));
            output.WriteLine($"wrote {BaseModelCard.BaselinesFile}, {BaseModelCard.CurveFile} and {BaseModelCard.CardFile} in {Path.GetFullPath(dir)}");
            return ExperimentCommand.ExitOk;
        });
        return new Command("base", "The base model simulations start from: its pretraining recipe and model card") { pretrain, card };
    }
}
