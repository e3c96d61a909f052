using System.Globalization;
using System.Text;
using System.Text.Json;
using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Tokenization;
using ScottPlot;

namespace Federated.Simulator.BaseModel;

/// <summary>A byte n-gram's held-out score, fitted on the same training text as the model and scored on the same windows.</summary>
public sealed record NGramBaseline(int Order, double NatsPerByte, long Bytes, double FitSeconds);

/// <summary>Held-out documents that also occur verbatim among the training documents (the sources repeat a few).</summary>
public sealed record HeldOutOverlap(int Documents, double CharacterFraction);

/// <summary>
/// Completes a pretrained model directory for users: the held-out score next to byte 3-gram and 5-gram baselines
/// (<c>baselines.json</c>), the loss curve (<c>loss.png</c>) and a model card (<c>README.md</c>) that says what the model is,
/// what it was trained on under which licences, how to reproduce it and what it is not.
/// </summary>
public static class BaseModelCard
{
    public const string BaselinesFile = "baselines.json", CurveFile = "loss.png", CardFile = "README.md";
    static readonly int[] Orders = [3, 5];

    public static IReadOnlyList<NGramBaseline> Write(string modelDir, Action<string> log)
    {
        var record = JsonSerializer.Deserialize<PretrainingRecord>(File.ReadAllText(Path.Combine(modelDir, BasePretraining.RecordFile)))
            ?? throw new InvalidDataException($"{modelDir}/{BasePretraining.RecordFile} is empty");
        var corpus = PretrainingCorpus.Load();
        var baselines = Baselines(corpus, record.Plan, log);
        var trainSet = corpus.Train.ToHashSet(StringComparer.Ordinal);
        var repeated = corpus.HeldOut.Where(trainSet.Contains).ToList();
        var overlap = new HeldOutOverlap(repeated.Count, repeated.Sum(d => (double)d.Length) / corpus.HeldOut.Sum(d => (double)d.Length));
        File.WriteAllText(Path.Combine(modelDir, BaselinesFile), JsonSerializer.Serialize(baselines, new JsonSerializerOptions { WriteIndented = true }));
        var rows = File.ReadLines(Path.Combine(modelDir, BasePretraining.LogFile)).Select(l => JsonSerializer.Deserialize<PretrainingLogRow>(l)!)
            .GroupBy(r => r.Step).Select(g => g.Last()).OrderBy(r => r.Step).ToList(); // a resumed run logs some steps twice
        Curve(Path.Combine(modelDir, CurveFile), rows, record, baselines);
        File.WriteAllText(Path.Combine(modelDir, CardFile), Card(Path.GetFileName(Path.GetFullPath(modelDir)), record, baselines, overlap));
        return baselines;
    }

    /// <summary>The n-grams see exactly the text the model trained on (documents joined as it read them) and score the same held-out windows.</summary>
    static List<NGramBaseline> Baselines(PretrainingCorpus corpus, PretrainingPlan plan, Action<string> log)
    {
        var train = Encoding.UTF8.GetBytes(string.Join("\n\n", corpus.Train));
        var windows = BasePretraining.HeldOutWindows(corpus, plan)
            .Select(w => (ReadOnlyMemory<byte>)w.InputIds.Select(t => checked((byte)t)).ToArray()).ToList();
        var result = new List<NGramBaseline>();
        foreach (int order in Orders)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var model = ByteNGramModel.Fit(order, [train]);
            double fit = clock.Elapsed.TotalSeconds;
            var (nats, bytes) = model.NatsPerByte(windows);
            log($"byte {order}-gram (interpolated Kneser-Ney): {nats:F4} nats/byte over {bytes:N0} bytes (fitted in {fit:F0} s)");
            result.Add(new NGramBaseline(order, nats, bytes, fit));
        }
        return result;
    }

    static void Curve(string path, IReadOnlyList<PretrainingLogRow> rows, PretrainingRecord record, IReadOnlyList<NGramBaseline> baselines)
    {
        var plot = new Plot();
        double bytesPerStep = record.Plan.BatchSize * (double)record.Plan.ContextLength / 1e6;
        // Training loss smoothed over 25 steps: single steps of 4,096 bytes are noisy.
        var smoothed = rows.Select((r, i) => rows.Skip(Math.Max(0, i - 24)).Take(Math.Min(25, i + 1)).Average(x => x.Loss)).ToArray();
        var train = plot.Add.Scatter(rows.Select(r => r.Step * bytesPerStep).ToArray(), smoothed);
        train.LegendText = "training loss (25-step mean)";
        train.MarkerSize = 0;
        var held = rows.Where(r => r.HeldOutLoss is not null).ToList();
        var heldLine = plot.Add.Scatter(held.Select(r => r.Step * bytesPerStep).ToArray(), held.Select(r => r.HeldOutLoss!.Value).ToArray());
        heldLine.LegendText = $"held-out loss ({record.Plan.CurveWindows} windows)";
        foreach (var b in baselines)
        {
            var line = plot.Add.HorizontalLine(b.NatsPerByte);
            line.LinePattern = LinePattern.Dashed;
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"byte {b.Order}-gram, held out ({b.NatsPerByte:F3})");
        }
        plot.Title($"Pretraining the {record.Plan.Preset} base ({record.Parameters / 1e6:F1} M parameters)");
        plot.XLabel("training bytes seen (millions)");
        plot.YLabel("nats per byte");
        plot.Axes.SetLimitsY(0, Math.Min(6, rows.Max(r => r.Loss) + 0.2));
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 1000, 560);
    }

    static string Card(string name, PretrainingRecord r, IReadOnlyList<NGramBaseline> baselines, HeldOutOverlap overlap)
    {
        var c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine(c, $"# {name}: a byte-level Llama base pretrained on English text from Debian");
        s.AppendLine();
        s.AppendLine(c, $"A {r.Parameters:N0}-parameter Llama-architecture causal language model (the `{r.Plan.Preset}` preset: byte-level vocabulary of 259, fp32 safetensors in the Hugging Face directory layout) that the simulations, the quickstart and the tests start from.");
        s.AppendLine("No pretrained LLM weights can be downloaded on the machines this project is built on, so the base is pretrained here, once, and shipped.");
        s.AppendLine();
        s.AppendLine("## Held-out score");
        s.AppendLine();
        s.AppendLine(c, $"Natural-log loss per byte on the held-out documents ({r.HeldOutBytesScored:N0} predicted bytes, in windows of {r.Plan.ContextLength} bytes; the first byte of a window is not predicted). The n-grams are fitted on exactly the text the model trained on and scored on the same windows.");
        s.AppendLine();
        s.AppendLine("| model | nats/byte | bits/byte |");
        s.AppendLine("|---|---:|---:|");
        s.AppendLine(c, $"| this model | {r.HeldOutNatsPerByte:F4} | {r.HeldOutNatsPerByte / Math.Log(2):F3} |");
        foreach (var b in baselines)
            s.AppendLine(c, $"| byte {b.Order}-gram, interpolated Kneser-Ney | {b.NatsPerByte:F4} | {b.NatsPerByte / Math.Log(2):F3} |");
        var best = baselines.MinBy(b => b.NatsPerByte)!;
        s.AppendLine();
        s.AppendLine(r.HeldOutNatsPerByte < best.NatsPerByte
            ? string.Create(c, $"The model beats the best n-gram ({best.Order}-gram) by {best.NatsPerByte - r.HeldOutNatsPerByte:F3} nats/byte.")
            : string.Create(c, $"The model does **not** beat the {best.Order}-gram: it is {r.HeldOutNatsPerByte - best.NatsPerByte:F3} nats/byte worse."));
        s.AppendLine();
        s.AppendLine(c, $"![loss curve]({CurveFile})");
        s.AppendLine();
        s.AppendLine("## Training data");
        s.AppendLine();
        s.AppendLine("| source | Debian package | licence | documents | MB |");
        s.AppendLine("|---|---|---|---:|---:|");
        foreach (var src in r.Sources)
            s.AppendLine(c, $"| {src.Name} (`{src.Path}`) | {src.Package} | {src.Licence} | {src.Documents:N0} | {src.Bytes / 1e6:F1} |");
        s.AppendLine();
        s.AppendLine("Documents are GCIDE entries (the 1913 Webster and its later additions; source-tag lines such as `[1913 Webster]` dropped) and single fortunes.");
        s.AppendLine("**GCIDE entries that quote WordNet are left out**: the experiments evaluate WordNet definitions, which the base must not have read.");
        s.AppendLine(c, $"Every 100th document is held out: {r.TrainDocuments:N0} training documents ({r.TrainBytes / 1e6:F1} MB), {r.HeldOutDocuments:N0} held out ({r.HeldOutBytes / 1e6:F2} MB).");
        s.AppendLine(c, $"The sources repeat a few documents: {overlap.Documents} held-out documents ({overlap.CharacterFraction:P2} of the held-out text) also occur verbatim among the training documents.");
        s.AppendLine();
        s.AppendLine("## Training");
        s.AppendLine();
        s.AppendLine(c, $"Every weight, AdamW, peak learning rate {r.Plan.LearningRate}, {Math.Max(1, r.Plan.Steps / 20)} warm-up steps then cosine decay to 10 %, gradient norm clipped at 1.");
        s.AppendLine(c, $"{r.Plan.Steps:N0} steps of {r.Plan.BatchSize} x {r.Plan.ContextLength} bytes = {r.TokensSeen / 1e6:F1} M bytes seen ({(double)r.TokensSeen / r.TrainBytes:F2} epochs), seed {r.Plan.Seed}, on a 2-core CPU in {r.Hours:F1} h. Training loss {r.FirstLoss:F3} -> {r.LastLoss:F3}.");
        s.AppendLine();
        s.AppendLine("Reproduce it (Debian 12; about two hours on two idle cores; resumable, run it again after an interruption):");
        s.AppendLine();
        s.AppendLine("```bash");
        s.AppendLine(c, $"apt-get install -y {PretrainingCorpus.Packages}");
        s.AppendLine(c, $"dotnet run --project simulations/Federated.Simulator -c Release -- base pretrain --out simulations/models/{name} --preset {r.Plan.Preset} --steps {r.Plan.Steps} --batch-size {r.Plan.BatchSize} --context-length {r.Plan.ContextLength} --lr {r.Plan.LearningRate} --seed {r.Plan.Seed}");
        s.AppendLine(c, $"dotnet run --project simulations/Federated.Simulator -c Release -- base card --model simulations/models/{name}");
        s.AppendLine("```");
        s.AppendLine();
        s.AppendLine("Training on the CPU is deterministic for a given machine and thread count; another CPU gives a close, not identical, model.");
        s.AppendLine();
        s.AppendLine("## Use and limits");
        s.AppendLine();
        s.AppendLine("- For federated LoRA experiments and tests: large enough that fine-tuning has something to build on, small enough to train many clients on a CPU.");
        s.AppendLine("- Not a useful language model on its own: it has seen 1913 dictionary English and jokes, a few million bytes, and writes plausible-looking dictionary entries, not answers.");
        s.AppendLine("- Inherits the views and the dated language of its sources (a 1913 dictionary, decades-old fortune files).");
        s.AppendLine("- Load it with `fed model eval --model <this directory> ...`; the tokenizer is the project's byte-level one (`tokenizer.json`, type `federated-byte-level`).");
        return s.ToString();
    }
}
