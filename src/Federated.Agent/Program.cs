using Federated.Agent.Hosting;

if (AgentCommandLine.WantsHelp(args))
{
    Console.Out.Write(AgentCommandLine.Help);
    return AgentExit.Ok;
}
return await AgentHost.RunAsync(args);
