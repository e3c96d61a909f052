using System.CommandLine;
using System.Text.Json;
using Federated.Cli.Remote;

namespace Federated.Cli.Commands;

/// <summary><c>fed round show|close ID ROUND</c>: a round's selection, submissions and aggregation outcome; closing it early.</summary>
static class RoundCommand
{
    public static Command Create()
    {
        var remote = new RemoteOptions();
        var id = new Argument<string>("id") { Description = "Federation id" };
        var round = new Argument<int>("round") { Description = "Round number (1 is the first)" };
        var show = new Command("show", "Show a round: selected clients, submissions, quorum, deadline, each client's outcome and the clients' training metrics") { id, round };
        show.SetAction((parse, ct) => RunAsync(parse, client => client.GetAsync(RoundPath(parse), ct)));
        var close = new Command("close", "Close an open round now instead of at its deadline: it aggregates the submitted updates if they meet the quorum, else fails") { id, round };
        close.SetAction((parse, ct) => RunAsync(parse, client => client.PostAsync($"{RoundPath(parse)}/close", null, ct)));

        string RoundPath(ParseResult parse) => $"api/federations/{Uri.EscapeDataString(parse.GetValue(id)!)}/rounds/{parse.GetValue(round)}";

        async Task<int> RunAsync(ParseResult parse, Func<CoordinatorClient, Task<JsonElement>> call)
        {
            using var client = remote.Client(parse);
            var view = await call(client);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
                RemoteOptions.PrintJson(o, view);
            else
                WriteRound(o, view);
            return FedCommandLine.ExitOk;
        }

        var command = new Command("round", "Inspect and close rounds on a coordinator") { show, close };
        remote.AddTo(command);
        return command;
    }

    static void WriteRound(TextWriter o, JsonElement r)
    {
        var selected = r.Items("selected").Select(s => s.GetString()).ToList();
        o.WriteLine($"federation  : {r.Text("federationId")}");
        o.WriteLine($"round       : {r.Text("round")}");
        o.WriteLine($"status      : {r.Text("status")}{(r.Field("failureReason") is not null ? $" ({r.Text("failureReason")})" : "")}");
        o.WriteLine($"selected    : {selected.Count} ({string.Join(", ", selected)})");
        o.WriteLine($"submitted   : {r.Text("submitted")}, quorum {r.Text("quorum")}");
        o.WriteLine($"opened      : {r.Text("openedAt")}, deadline {r.Text("deadline")}, closed {r.Text("closedAt")}");
        o.WriteLine($"global      : {r.Stored("global")}{(r.Field("aggregationTime") is not null ? $", aggregated in {r.Text("aggregationTime")}" : "")}");
        if (r.Field("factoringError") is not null)
            o.WriteLine($"factoring   : the global re-factored (a robust rule's dense result at low rank, or the stack bounded or truncated), " +
                        $"largest relative error of a module {r.Text("factoringError")}");
        if (r.Field("compactionError") is not null)
            o.WriteLine($"compaction  : the history re-factored, largest relative error of a module {r.Text("compactionError")}");
        var outcomes = r.Items("outcomes").ToList();
        if (outcomes.Count > 0)
        {
            o.WriteLine();
            var table = new TextTable("CLIENT", "ACCEPTED", "EXAMPLES", "WEIGHT", "COEFFICIENT", "NORM", "REJECTION");
            foreach (var c in outcomes)
                table.Add(c.Text("clientId"), c.Text("accepted"), c.Text("countedExamples"), c.Text("weight"), c.Text("coefficient"), c.Text("norm"), c.Text("rejection"));
            table.Write(o);
        }
        WriteMetrics(o, r);
    }

    /// <summary>The clients' training metrics: the round's weighted means, then each client's report, one column per metric.</summary>
    static void WriteMetrics(TextWriter o, JsonElement r)
    {
        var metrics = r.Items("metrics").ToList();
        var clients = r.Items("clientMetrics").ToList();
        if (metrics.Count == 0 && clients.Count == 0)
            return;
        o.WriteLine();
        o.WriteLine("client metrics, weighted by counted examples:");
        var summary = new TextTable("METRIC", "MEAN", "CLIENTS");
        foreach (var m in metrics)
            summary.Add(m.Text("name"), Number(m.GetProperty("value")), m.Text("clients"));
        summary.Write(o);
        var names = metrics.Select(m => m.Text("name")).ToArray();
        if (clients.Count == 0 || names.Length == 0)
            return;
        o.WriteLine();
        var table = new TextTable(["CLIENT", .. names.Select(n => n.ToUpperInvariant())]);
        foreach (var c in clients)
        {
            var reported = c.GetProperty("metrics");
            table.Add([c.Text("clientId"), .. names.Select(n => reported.TryGetProperty(n, out var v) ? Number(v) : "-")]);
        }
        table.Write(o);
    }

    static string Number(JsonElement value) => value.ValueKind == JsonValueKind.Number
        ? value.GetDouble().ToString("G6", System.Globalization.CultureInfo.InvariantCulture)
        : value.ToString(); // "NaN" and the infinities travel as strings
}
